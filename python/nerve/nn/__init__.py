"""Neural-network layers, losses and helpers with PyTorch's names."""
from nerve.nn import functional, init, utils
from nerve.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh
from nerve.nn.container import ModuleDict, ModuleList, ParameterList, Sequential
from nerve.nn.dropout import Dropout, Dropout2d
from nerve.nn.linear import Flatten, Identity, Linear
from nerve.nn.module import Module
from nerve.nn.normalization import LayerNorm
from nerve.nn.parameter import Parameter
from nerve.nn.sparse import Embedding
from nerve.nn.transformer import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                                  TransformerEncoder, TransformerEncoderLayer)
