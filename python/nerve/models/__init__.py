"""Ready models: nn.Modules only. How ``nerve train <name>`` trains them
(data, training loop, reports) is in ``nerve.recipes``."""
from nerve.models.bert import BertConfig, BertModel, SentenceEncoder
from nerve.models.char_lm import CharLM
from nerve.models.cnn import LeNet, ResNet
from nerve.models.gan import GAN, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from nerve.models.language_model import LanguageModel, Vocabulary
from nerve.models.mlp import MLP
from nerve.models.transformer_lm import Seq2SeqTransformer, TransformerLM

__all__ = ["BertConfig", "BertModel", "CharLM", "DCGANDiscriminator", "DCGANGenerator", "GAN", "LanguageModel", "LeNet", "MLP",
           "MLPDiscriminator", "MLPGenerator", "ResNet", "Seq2SeqTransformer", "SentenceEncoder", "TransformerLM", "Vocabulary"]


def __getattr__(name):
    """``nerve.models.RECIPES`` and ``Recipe`` moved to nerve.recipes (which imports this package, so they are
    looked up on first use rather than imported here)."""
    if name in ("RECIPES", "Recipe"):
        import nerve.recipes
        return getattr(nerve.recipes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
