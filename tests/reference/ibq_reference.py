#!/usr/bin/python3
"""PyTorch reference for ibq's IBQ quantizer (include/ibq/quant/ibq.hpp) -> tests/fixtures/ibq.h5.

Run with the system interpreter (PyTorch 1.13 CPU, h5py, numpy):
    /usr/bin/python3 tests/reference/ibq_reference.py

`IndexPropagationQuantize.forward` below transcribes SEED-Voken's src/IBQ/modules/vqvae/quantize.py (HEAD
b9a17ea) as stated in docs/math.md, and `compute_entropy_loss` the
MAGVIT-v2 entropy loss it calls. Everything is float64. `beta_on_codebook=False` switches to
the paper's Eq. 10 placement (beta on the commitment term); the released code is the default.

Each case is a group with inputs z [B,D,H,W] and E [K,D], outputs z_q, indices (int32, the code's int64 cast,
b-h-w raster order), quant_loss, sample_entropy, batch_entropy, entropy_loss, a random direction r shaped
like z_q, and grad_z / grad_E, the gradients of L = sum(z_q * r) + quant_loss + 0.05 * entropy_loss.
Group attributes give the configuration.
"""
import os

import h5py
import torch
import torch.nn.functional as F

torch.manual_seed(20250107)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "ibq.h5")


def compute_entropy_loss(logits, temperature=0.01, sample_minimization_weight=1.0, batch_maximization_weight=1.0,
                         eps=1e-5):
    probs = F.softmax(logits / temperature, -1)
    log_probs = F.log_softmax(logits / temperature + eps, -1)
    avg_probs = probs.mean(dim=0)  # reduce(probs, "... D -> D", "mean") on (N, K)
    avg_entropy = -torch.sum(avg_probs * torch.log(avg_probs + eps))
    sample_entropy = -torch.sum(probs * log_probs, -1)
    sample_entropy = torch.mean(sample_entropy)
    loss = (sample_minimization_weight * sample_entropy) - (batch_maximization_weight * avg_entropy)
    return sample_entropy, avg_entropy, loss


class IndexPropagationQuantize:
    def __init__(self, n_e, e_dim, beta, use_entropy_loss=True, entropy_temperature=0.01,
                 sample_minimization_weight=1.0, batch_maximization_weight=1.0, beta_on_codebook=True):
        self.n_e, self.e_dim, self.beta = n_e, e_dim, beta
        self.use_entropy_loss = use_entropy_loss
        self.entropy_temperature = entropy_temperature
        self.sample_minimization_weight = sample_minimization_weight
        self.batch_maximization_weight = batch_maximization_weight
        self.beta_on_codebook = beta_on_codebook

    def forward(self, z, weight):
        logits = torch.einsum("b c h w, n c -> b n h w", z, weight)
        soft_one_hot = F.softmax(logits, dim=1)
        dim = 1
        ind = soft_one_hot.max(dim, keepdim=True)[1]
        hard_one_hot = torch.zeros_like(logits, memory_format=torch.legacy_contiguous_format).scatter_(dim, ind, 1.0)
        one_hot = hard_one_hot - soft_one_hot.detach() + soft_one_hot

        z_q = torch.einsum("b n h w, n d -> b d h w", one_hot, weight)
        z_q_2 = torch.einsum("b n h w, n d -> b d h w", hard_one_hot, weight)

        if self.beta_on_codebook:  # released code
            quant_loss = (torch.mean((z_q - z) ** 2) + torch.mean((z_q_2.detach() - z) ** 2)
                          + self.beta * torch.mean((z_q_2 - z.detach()) ** 2))
        else:  # paper Eq. 10: ||z_q - z||^2 + ||sg[z] - z_q'||^2 + beta ||z - sg[z_q']||^2
            quant_loss = (torch.mean((z_q - z) ** 2) + torch.mean((z.detach() - z_q_2) ** 2)
                          + self.beta * torch.mean((z - z_q_2.detach()) ** 2))
        diff = quant_loss
        if self.use_entropy_loss:
            sample_entropy, avg_entropy, entropy_loss = compute_entropy_loss(
                logits=logits.permute(0, 2, 3, 1).reshape(-1, self.n_e), temperature=self.entropy_temperature,
                sample_minimization_weight=self.sample_minimization_weight,
                batch_maximization_weight=self.batch_maximization_weight)
            diff = (quant_loss, sample_entropy, avg_entropy, entropy_loss)
        ind = torch.flatten(ind)
        return z_q, diff, (None, None, ind)


def write_case(f, name, B, D, H, W, K, beta, tau, beta_on_codebook=True):
    z = torch.randn(B, D, H, W, dtype=DT, requires_grad=True)
    E = torch.randn(K, D, dtype=DT, requires_grad=True)  # nn.Embedding's N(0, 1)
    q = IndexPropagationQuantize(K, D, beta, entropy_temperature=tau, beta_on_codebook=beta_on_codebook)
    z_q, (quant_loss, sample_entropy, avg_entropy, entropy_loss), (_, _, ind) = q.forward(z, E)
    r = torch.randn(z_q.shape, dtype=DT)
    ((z_q * r).sum() + quant_loss + 0.05 * entropy_loss).backward()
    g = f.create_group(name)
    g["z"] = z.detach().numpy()
    g["E"] = E.detach().numpy()
    g["r"] = r.numpy()
    g["z_q"] = z_q.detach().numpy()
    g["indices"] = ind.to(torch.int32).numpy()
    for k, v in {"quant_loss": quant_loss, "sample_entropy": sample_entropy, "batch_entropy": avg_entropy,
                 "entropy_loss": entropy_loss}.items():
        g[k] = v.detach().reshape(1).numpy()
    g["grad_z"] = z.grad.numpy()
    g["grad_E"] = E.grad.numpy()
    for k, v in {"beta": beta, "entropy_temperature": tau, "beta_on_codebook": int(beta_on_codebook),
                 "entropy_weight": 0.05}.items():
        g.attrs[k] = v


with h5py.File(OUT, "w") as f:
    f.attrs["generator"] = "tests/reference/ibq_reference.py"
    f.attrs["torch_version"] = str(torch.__version__)
    f.attrs["description"] = ("ibq/*: IndexPropagationQuantize forward (SEED-Voken b9a17ea), float64; "
                              "gradients of sum(z_q * r) + quant_loss + 0.05 * entropy_loss")
    write_case(f, "ibq/tau0.5", 2, 4, 3, 3, 7, 0.25, 0.5)
    write_case(f, "ibq/tau0.01", 2, 4, 3, 3, 7, 0.25, 0.01)
    write_case(f, "ibq/paper_tau0.5", 2, 4, 3, 3, 7, 0.25, 0.5, beta_on_codebook=False)
