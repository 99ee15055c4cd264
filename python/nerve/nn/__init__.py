"""Neural-network layers, losses and helpers with PyTorch's names."""
from nerve.nn import functional, init, utils
from nerve.nn.activation import (
    CELU, ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, ReLU, ReLU6,
    SiLU, Sigmoid, Softmax, Softplus, Softsign, Tanh,
)
from nerve.nn.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from nerve.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from nerve.nn.dropout import Dropout, Dropout2d
from nerve.nn.linear import Flatten, Identity, Linear, Unflatten
from nerve.nn.loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from nerve.nn.module import Module
from nerve.nn.batch_norm import BatchNorm1d, BatchNorm2d
from nerve.nn.layer_norm import LayerNorm
from nerve.nn.normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from nerve.nn.resize import (
    CircularPad2d, ConstantPad1d, ConstantPad2d, PixelShuffle, PixelUnshuffle, ReflectionPad1d, ReflectionPad2d,
    ReplicationPad1d, ReplicationPad2d, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d, ZeroPad2d,
)
from nerve.nn.parameter import Parameter
from nerve.nn import parallel
from nerve.nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from nerve.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from nerve.nn.embedding import Embedding
from nerve.nn.transformer import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                                  TransformerEncoder, TransformerEncoderLayer)
