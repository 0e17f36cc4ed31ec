"""The paper's experiment, re-run: train its attention model and sample its error.

The model and the training follow the public experiment code of the paper
(MAGICS-LAB/UAP_Attention, ``truncated.py``): a token projection multiplied by a learnable
per-position modulation, ``p_total - n`` learnable interpolation tokens appended (initialised
on ``linspace(-1, 1)``), one multi-head softmax attention layer (hidden width 32, scaled dot
product, output projection), the first n output tokens kept; Adam with learning rate 1e-3,
batch 32, MSE against the target placed in output coordinate 0 and zeros in the other
coordinates.  The data are the audit's own draw (:func:`certify.audit_tasks.paper_data`),
with the paper's distributions.

Everything this module reports is **sampled**: errors at finitely many inputs, evaluated
in float32.  The largest sampled error is only a lower bound of the trained model's sup
error; no statement here is certified.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from certify.audit_tasks import (
    PAPER_D,
    PAPER_N,
    paper_data,
    probe_sets,
    sampled_errors,
    truncated_targets,
)

#: truncated.py's hidden width, batch size and learning rate.
HIDDEN, BATCH, LR = 32, 32, 1e-3
#: Seed of the model initialisation and of the batch order.
TRAIN_SEED = 1234


def torch_available() -> tuple[bool, str]:
    """``(True, version)`` if PyTorch imports, else ``(False, reason)``."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken installation
        return False, f"PyTorch is not available ({type(exc).__name__}: {exc})"
    return True, str(torch.__version__)


def paper_model(torch: Any, heads: int, p_total: int):
    """The experiment's attention model (module docstring) for ``heads`` heads and
    ``p_total`` tokens in the attention layer."""
    nn = torch.nn

    class PaperModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads, self.head_dim = heads, HIDDEN // heads
            self.token_proj = nn.Linear(PAPER_D, HIDDEN)
            self.modulation = nn.Parameter(torch.ones(PAPER_N, HIDDEN))
            extra = p_total - PAPER_N
            self.interp = nn.Parameter(torch.linspace(-1.0, 1.0, extra)[:, None]
                                       .expand(extra, HIDDEN).clone())
            # Created in the experiment's order, so the seeded initialisation matches it.
            self.q_proj = nn.Linear(HIDDEN, HIDDEN)
            self.k_proj = nn.Linear(HIDDEN, HIDDEN)
            self.v_proj = nn.Linear(HIDDEN, HIDDEN)
            self.out_proj = nn.Linear(HIDDEN, HIDDEN)

        def forward(self, x):
            B = x.shape[0]
            z = torch.cat([self.token_proj(x) * self.modulation,
                           self.interp.expand(B, -1, -1)], dim=1)
            L = z.shape[1]

            def split(u):
                return u.view(B, L, self.heads, self.head_dim).transpose(1, 2)

            q, k, v = split(self.q_proj(z)), split(self.k_proj(z)), split(self.v_proj(z))
            att = torch.softmax(q @ k.transpose(-2, -1) / self.head_dim ** 0.5, dim=-1)
            o = (att @ v).transpose(1, 2).reshape(B, L, HIDDEN)
            return self.out_proj(o)[:, :PAPER_N]

    if HIDDEN % heads:
        raise ValueError(f"the hidden width {HIDDEN} is not a multiple of {heads} heads")
    return PaperModel()


def train_and_sample(heads: int, p_total: int, span: float, epochs: int,
                     seed: int = TRAIN_SEED) -> dict[str, Any]:
    """Train one model and sample its error.

    Parameters
    ----------
    heads, p_total : int
        Heads, and tokens in the attention layer (50 inputs + ``p_total - 50`` learnable).
    span : float
        ``b - a``; the targets are ``Range_[-span/2, span/2](w_k . x_k + t_k)``.
    epochs : int
        Passes over the 800 training sequences (the experiment uses 50).

    Returns
    -------
    dict
        ``status`` "ok" with ``sampled`` errors of output coordinate 0 on the held-out test
        split, on uniform random sequences and on the diagonal grid
        (:func:`certify.audit_tasks.probe_sets`), ``paper_metric`` (the experiment's test
        MSE, over all 32 output coordinates), ``final_train_loss``, ``train_seconds``; or
        ``status`` "not run" with the reason when PyTorch is missing.  Sampled only.
    """
    ok, info = torch_available()
    if not ok:
        return {"status": "not run", "reason": info}
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = paper_data()
    w, t = data["w"], data["t"]
    a, b = -span / 2, span / 2
    X = data["X"]
    Y = truncated_targets(X, w, t, a, b)
    xtr = torch.tensor(X[data["train"]], dtype=torch.float32)
    ytr = torch.tensor(Y[data["train"]], dtype=torch.float32)
    model = paper_model(torch, heads, p_total)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    loss_value = float("nan")
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            pred = model(xtr[idx])
            true = torch.zeros_like(pred)
            true[:, :, 0] = ytr[idx]
            loss = torch.nn.functional.mse_loss(pred, true)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_value = float(loss.detach())
    train_seconds = time.perf_counter() - t0
    model.eval()

    def predict(Xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([model(torch.tensor(Xs[i:i + 1000], dtype=torch.float32))
                                   .numpy() for i in range(0, len(Xs), 1000)])

    sets = {"test": X[data["test"]], **probe_sets(w)}
    sampled, paper_metric = {}, None
    for key, Xs in sets.items():
        out = predict(Xs)
        target = truncated_targets(Xs, w, t, a, b)
        sampled[key] = sampled_errors(out[:, :, 0].reshape(-1), target.reshape(-1))
        if key == "test":
            padded = np.zeros_like(out)
            padded[:, :, 0] = target
            paper_metric = float(np.mean((out - padded) ** 2))
    return {"status": "ok", "heads": heads, "p_total": p_total, "span": span,
            "epochs": epochs, "seed": seed, "steps": epochs * -(-len(xtr) // BATCH),
            "torch": info, "final_train_loss": loss_value,
            "train_seconds": round(train_seconds, 3), "sampled": sampled,
            "paper_metric": paper_metric}
