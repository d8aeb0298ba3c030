"""PyTorch reference for ibq's class-conditional AR transformer (include/ibq/models/ar_transformer.hpp)
-> tests/fixtures/ar_transformer.h5.

Run with the system interpreter (PyTorch 1.13 CPU, h5py, numpy):
    /usr/bin/python3 tests/reference/ar_reference.py

Written from the reference code (TencentARC/SEED-Voken, src/IBQ/models/transformer/llama.py GPT; the
math is stated in docs/math.md): a class table
with a null row used as the prefix token and as the AdaLN condition; blocks
    (g1, g2, s1, s2, b1, b2) = Linear(SiLU(c)),  h = x + g1 Attn(RMSNorm(x)(1+s1)+b1),
    out = h + g2 FFN(RMSNorm(h)(1+s2)+b2)
with a bias-free wqkv/wo, 2-D RoPE on q and k (a zero cos/sin row for the class token), causal SDPA with
scale 1/sqrt(head_dim), SwiGLU w2(silu(w1 a) * w3 a) of hidden find_multiple(int(8C/3), multiple_of); the
head RMSNorm(h)(1+s)+b with (s, b) = Linear(SiLU(c)), then a bias-free Linear to the vocabulary. Module
names follow the reference's state dict (tok_emb, class_emb.embedding_table, blocks.{i}.attention.wqkv, ...).

Small configuration, float64, eval mode (no dropout): vocab 11, 3 classes (+ null), grid 3 (sequence 10),
2 layers, dim 16, 2 heads, multiple_of 8 (FFN hidden 48). Every parameter is drawn N(0, 0.3) after the
reference initialisation (which zeroes the head), so that every path carries signal.

Written: params/<name>; rope_table [10, 4, 2] (the reference's float32 table); tokens [2, 9], labels [2]
(one is the null class 3); model/logits [2, 9, 11] of the inputs tokens[:, :8]; model/loss (mean CE against
tokens); model/grads/<name> of the loss. block/: the first block alone on x [2, 4, 16] and c [2, 1, 16] at
positions 0..3: out, r, grad_x, grad_c and grads/<name> of sum(out * r).
"""
import os

import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20261201)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "ar_transformer.h5")
VOCAB, CLASSES, GRID, LAYERS, DIM, HEADS, MULTIPLE_OF = 11, 3, 3, 2, 16, 2, 8
EPS, ROPE_BASE = 1e-5, 10000


def find_multiple(n, k):
    return n if n % k == 0 else n + k - n % k


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + EPS) * self.weight


def rope_table(grid, head_dim, base, prefix):
    quarter = head_dim // 4
    theta = 1.0 / (base ** (torch.arange(0, head_dim // 2, 2)[:quarter].float() / (head_dim // 2)))
    pos = torch.outer(torch.arange(grid).float(), theta)                     # [grid, quarter]
    angles = torch.cat([pos[:, None, :].expand(-1, grid, -1), pos[None, :, :].expand(grid, -1, -1)], -1)
    table = torch.stack([torch.cos(angles), torch.sin(angles)], -1).flatten(0, 1)
    return torch.cat([torch.zeros(prefix, head_dim // 2, 2), table])        # float32, as the reference


def rotate(x, table):  # x [B, T, H, D], table [T, D/2, 2]
    xp = x.reshape(*x.shape[:-1], -1, 2)
    c, s = table[None, :, None, :, 0], table[None, :, None, :, 1]
    return torch.stack([xp[..., 0] * c - xp[..., 1] * s, xp[..., 1] * c + xp[..., 0] * s], -1).flatten(3)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.wqkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.wo = nn.Linear(DIM, DIM, bias=False)

    def forward(self, x, table):
        b, t, _ = x.shape
        q, k, v = self.wqkv(x).split(DIM, -1)
        q, k, v = (y.view(b, t, HEADS, DIM // HEADS) for y in (q, k, v))
        q, k = rotate(q, table), rotate(k, table)
        q, k, v = (y.transpose(1, 2) for y in (q, k, v))
        scores = q @ k.transpose(-2, -1) / (DIM // HEADS) ** 0.5
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        o = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ v
        return self.wo(o.transpose(1, 2).reshape(b, t, DIM))


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        hidden = find_multiple(int(2 * 4 * DIM / 3), MULTIPLE_OF)
        self.w1 = nn.Linear(DIM, hidden, bias=False)
        self.w3 = nn.Linear(DIM, hidden, bias=False)
        self.w2 = nn.Linear(hidden, DIM, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.feed_forward = FeedForward()
        self.attention_norm = RMSNorm(DIM)
        self.ffn_norm = RMSNorm(DIM)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(DIM, 6 * DIM))

    def forward(self, x, c, table):
        g1, g2, s1, s2, b1, b2 = self.ada_lin(c).view(-1, 1, 6, DIM).unbind(2)
        h = x + g1 * self.attention(self.attention_norm(x) * (1 + s1) + b1, table)
        return h + g2 * self.feed_forward(self.ffn_norm(h) * (1 + s2) + b2)


class HeadNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rmsnorm = RMSNorm(DIM)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(DIM, 2 * DIM))

    def forward(self, x, c):
        s, b = self.ada_lin(c).view(-1, 1, 2, DIM).unbind(2)
        return self.rmsnorm(x) * (1 + s) + b


class LabelEmbedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding_table = nn.Embedding(CLASSES + 1, DIM)


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, DIM)
        self.class_emb = LabelEmbedder()
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.head_nm = HeadNorm()
        self.head = nn.Linear(DIM, VOCAB, bias=False)
        self.table = rope_table(GRID, DIM // HEADS, ROPE_BASE, 1)

    def forward(self, tokens, labels):
        c = self.class_emb.embedding_table(labels)[:, None, :]
        h = torch.cat([c, self.tok_emb(tokens)], 1)
        table = self.table[: h.shape[1]].to(DT)
        for b in self.blocks:
            h = b(h, c, table)
        return self.head(self.head_nm(h, c))


def main():
    model = GPT().to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    tokens = torch.randint(0, VOCAB, (2, GRID * GRID))
    labels = torch.tensor([1, CLASSES])
    logits = model(tokens[:, :-1], labels)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens.reshape(-1))
    grads = torch.autograd.grad(loss, list(model.parameters()))

    block = model.blocks[0]
    x = torch.randn(2, 4, DIM, dtype=DT, requires_grad=True)
    c = torch.randn(2, 1, DIM, dtype=DT, requires_grad=True)
    out = block(x, c, model.table[:4].to(DT))
    r = torch.randn_like(out)
    block_params = list(block.named_parameters())
    bgrads = torch.autograd.grad((out * r).sum(), [x, c] + [p for _, p in block_params])

    with h5py.File(OUT, "w") as f:
        for k, v in {"vocab": VOCAB, "classes": CLASSES, "grid": GRID, "layers": LAYERS, "dim": DIM,
                     "heads": HEADS, "multiple_of": MULTIPLE_OF}.items():
            f.attrs[k] = v
        for (name, p), g in zip(model.named_parameters(), grads):
            f[f"params/{name}"] = p.detach().numpy()
            f[f"model/grads/{name}"] = g.numpy()
        f["rope_table"] = model.table.numpy()
        f["tokens"] = tokens.numpy().astype("int32")
        f["labels"] = labels.numpy().astype("int32")
        f["model/logits"] = logits.detach().numpy()
        f["model/loss"] = loss.detach().numpy()
        f["block/x"], f["block/c"] = x.detach().numpy(), c.detach().numpy()
        f["block/out"], f["block/r"] = out.detach().numpy(), r.numpy()
        f["block/grad_x"], f["block/grad_c"] = bgrads[0].numpy(), bgrads[1].numpy()
        for (name, _), g in zip(block_params, bgrads[2:]):
            f[f"block/grads/blocks.0.{name}"] = g.numpy()
    print(f"wrote {OUT}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
