"""Each compat program starts from the same seeds, as a script that calls
torch.manual_seed at the top would, and leaves grad mode as it found it."""
import pytest

from tests.compat.torch_alias import torch


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    torch.cuda.manual_seed_all(0)
    yield
    torch.set_grad_enabled(True)
