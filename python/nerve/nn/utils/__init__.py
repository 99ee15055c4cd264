"""nn.utils: gradient clipping, parameter vectors, and rnn (packed sequences)."""
from nerve.nn.utils import rnn
from nerve.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, l1_penalty
from nerve.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["rnn", "clip_grad_norm_", "clip_grad_value_", "l1_penalty", "parameters_to_vector",
           "vector_to_parameters"]
