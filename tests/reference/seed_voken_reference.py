#!/usr/bin/python3
"""SEED-Voken-shaped checkpoints with random weights, and what PyTorch computes with them, for the
importer's tests (hpc/import_seed_voken.py, tests/drivers/seed_voken.sh).

    /usr/bin/python3 tests/reference/seed_voken_reference.py small OUTDIR   # reduced models + expected outputs
    /usr/bin/python3 tests/reference/seed_voken_reference.py full OUTDIR    # the released K = 16384 tokenizer's size
    /usr/bin/python3 tests/reference/seed_voken_reference.py strict CKPT tokenizer|ar OUTDIR
                                                   # load an exported file into these modules with strict=True

The modules have exactly the reference's structure and state-dict names (TencentARC/SEED-Voken: the IBQ
VQModel with taming's Encoder/Decoder, IndexPropagationQuantize's embedding, 1x1 quant_conv and
post_quant_conv, and LitEma's buffers model_ema.<name without dots>, decay, num_updates; the AR file's
Net2NetTransformer with transformer.* (the Llama GPT) and first_stage_model.* holding the tokenizer's
EMA values under plain names, no model_ema). The Encoder/Decoder and GPT blocks are the ones of
autoencoder_reference.py and ar_reference.py, which the C++ models already match; GroupNorm has the
reference's 32 groups here.

small: a reduced tokenizer (ch 32, ch_mult 1,2, one block a level, attention at 8x8, z 32, D 16, K 64, 16x16
images -> 8x8 tokens) and a 2-layer AR model (width 64, 2 heads, 5 classes, vocabulary 64), each saved as a
Lightning-style .ckpt ({"state_dict", "epoch", "global_step"}), with one extra discriminator tensor in the
tokenizer file (the importer must report it unused). Expected outputs (float64 forward of the float32
weights) in expected.h5: x [4, 3, 16, 16]; for params and ema weights: tokens [4, 8, 8] and recon; the AR
model's logits [2, 64, 64] for tokens [2, 63] and labels [2]; greedy tokens (argmax every step, no KV cache:
the full prefix is rerun) for classes 0..4 at guidance scale 1 and 2 (uncond + (cond - uncond) * scale, the
null class being row 5).
full: the released tokenizer's architecture (ch 128 x (1,1,2,2,4), 4 blocks, attention at 16, z = D = 256,
K = 16384) with random weights and a LitEma copy: imagenet256_16384.ckpt and checksums.json (per tensor:
shape, float64 sum and sum of squares of the float32 values).
"""
import collections
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ar_reference as arr  # noqa: E402
import autoencoder_reference as aer  # noqa: E402

SMALL = dict(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), z_channels=32, in_channels=3, out_ch=3,
             resolution=16, embed_dim=16, n_embed=64)
FULL = dict(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=4, attn_resolutions=(16,), z_channels=256, in_channels=3,
            out_ch=3, resolution=256, embed_dim=256, n_embed=16384)
AR = dict(layers=2, dim=64, heads=2, classes=5)


class LitEma(nn.Module):
    """The reference's LitEma: a buffer per trainable parameter, named without dots."""

    def __init__(self, model, decay=0.999):
        super().__init__()
        self.register_buffer("decay", torch.tensor(decay, dtype=torch.float32))
        self.register_buffer("num_updates", torch.tensor(-1, dtype=torch.int))
        for name, p in model.named_parameters():
            self.register_buffer(name.replace(".", ""), p.clone().detach().data)


class IndexPropagationQuantize(nn.Module):
    def __init__(self, n_e, e_dim):
        super().__init__()
        self.embedding = nn.Embedding(n_e, e_dim)

    def forward(self, z):  # inference: the hard one-hot of argmax <z, e_k> picks the code
        logits = torch.einsum("bdhw,nd->bnhw", z, self.embedding.weight)
        ind = logits.argmax(1)
        return self.embedding(ind).permute(0, 3, 1, 2), ind


class VQModel(nn.Module):
    """IBQ's VQModel as a module tree (no loss, no Lightning): EMA built from the generator's parameters."""

    def __init__(self, cfg, use_ema=True):
        super().__init__()
        self.cfg = dict(cfg)
        aer.CFG["groups"] = 32  # taming's Normalize
        self.encoder = aer.Encoder(**cfg)
        self.decoder = aer.Decoder(**cfg)
        self.quantize = IndexPropagationQuantize(cfg["n_embed"], cfg["embed_dim"])
        self.quant_conv = nn.Conv2d(cfg["z_channels"], cfg["embed_dim"], 1)
        self.post_quant_conv = nn.Conv2d(cfg["embed_dim"], cfg["z_channels"], 1)
        if use_ema:
            self.model_ema = LitEma(self)

    def reconstruct(self, x):
        zq, ind = self.quantize(self.quant_conv(self.encoder(x)))
        return self.decoder(self.post_quant_conv(zq)), ind

    def ema_copy(self):
        """A generator holding LitEma's weights (what the reference's ema_scope() swaps in)."""
        cfg = {k: getattr(self, "cfg")[k] for k in self.cfg}
        out = VQModel(cfg, use_ema=False)
        buffers = dict(self.model_ema.named_buffers())
        with torch.no_grad():
            for name, p in out.named_parameters():
                p.copy_(buffers[name.replace(".", "")])
        return out


def configure_gpt(vocab, grid):
    arr.VOCAB, arr.CLASSES, arr.GRID = vocab, AR["classes"], grid
    arr.LAYERS, arr.DIM, arr.HEADS, arr.MULTIPLE_OF = AR["layers"], AR["dim"], AR["heads"], 256


class Net2NetTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        configure_gpt(cfg["n_embed"], cfg["resolution"] >> (len(cfg["ch_mult"]) - 1))
        self.first_stage_model = VQModel(cfg, use_ema=False)  # stage = transformer: no LitEma
        self.transformer = arr.GPT()


def randomise(module, std=None):
    """Random weights everywhere (the reference zeroes the AR head and sets GroupNorm to 1/0), so every
    tensor's placement is tested."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if std is not None:
                p.normal_(0.0, std)
            elif "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif "norm" in name:
                p.normal_(0.0, 0.1)
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.uniform_(-(3.0 / fan_in) ** 0.5, (3.0 / fan_in) ** 0.5)


def save_ckpt(path, sd, epoch, step):
    torch.save({"state_dict": sd, "epoch": epoch, "global_step": step, "pytorch-lightning_version": "2.2.1",
                "hyper_parameters": {"n_embed": 64}}, path)


def greedy(gpt, classes, steps, scale):
    """Greedy decoding by rerunning the whole prefix each step (no KV cache), optionally guided."""
    labels = torch.tensor(classes)
    null = torch.full_like(labels, AR["classes"])
    tokens = torch.zeros(len(classes), 0, dtype=torch.long)
    for _ in range(steps):
        logits = gpt(tokens, labels)[:, -1]
        if scale != 1.0:
            uncond = gpt(tokens, null)[:, -1]
            logits = uncond + (logits - uncond) * scale
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], 1)
    return tokens


def small(out):
    import h5py
    torch.manual_seed(20261206)
    tok = VQModel(SMALL)
    randomise(tok)
    tok.model_ema = LitEma(tok)  # the EMA copy differs from the raw weights
    with torch.no_grad():
        for b in tok.model_ema.buffers():
            if b.dtype == torch.float32 and b.dim() > 0:
                b.add_(0.05 * torch.randn_like(b) * b.abs().mean())
    sd = collections.OrderedDict(tok.state_dict())
    sd["loss.discriminator.main.0.weight"] = torch.randn(8, 3, 4, 4)  # not ours: must be reported unused
    save_ckpt(os.path.join(out, "tokenizer.ckpt"), sd, 7, 1234)

    x = torch.rand(4, 3, SMALL["resolution"], SMALL["resolution"]) * 2 - 1
    ema = tok.ema_copy()
    ar = Net2NetTransformer(SMALL)
    randomise(ar.transformer, std=0.3)
    ar.first_stage_model.load_state_dict(ema.state_dict())  # SEED-Voken keeps the EMA values here
    save_ckpt(os.path.join(out, "ar.ckpt"), collections.OrderedDict(ar.state_dict()), 3, 555)

    grid = SMALL["resolution"] >> (len(SMALL["ch_mult"]) - 1)
    with h5py.File(os.path.join(out, "expected.h5"), "w") as f, torch.no_grad():
        f["x"] = x.numpy()
        for name, model in (("params", tok), ("ema", ema)):
            recon, ind = model.double().reconstruct(x.double())
            f[name + "/recon"] = recon.numpy()
            f[name + "/tokens"] = ind.numpy().astype("int32")
        gpt = ar.transformer.double()
        tokens = torch.randint(0, SMALL["n_embed"], (2, grid * grid))
        labels = torch.tensor([1, AR["classes"]])
        f["ar/tokens"] = tokens.numpy().astype("int32")
        f["ar/labels"] = labels.numpy().astype("int32")
        f["ar/logits"] = gpt(tokens[:, :-1], labels).numpy()
        classes = list(range(AR["classes"]))
        f["ar/greedy_classes"] = torch.tensor(classes).numpy().astype("int32")
        for scale in (1.0, 2.0):
            f["ar/greedy_cfg%g" % scale] = greedy(gpt, classes, grid * grid, scale).numpy().astype("int32")
    print("wrote %s: tokenizer %d parameters (+ EMA), AR %d parameters" % (
        out, sum(p.numel() for p in tok.parameters()), sum(p.numel() for p in ar.transformer.parameters())))


def full(out):
    torch.manual_seed(16384)
    tok = VQModel(FULL, use_ema=False)
    with torch.no_grad():  # fast, deterministic, distinct per tensor
        for p in tok.parameters():
            p.normal_(0.0, 0.02)
    tok.model_ema = LitEma(tok)
    with torch.no_grad():
        for name, b in tok.model_ema.named_buffers():
            if b.dim() > 0:
                b.mul_(0.5)
    sd = tok.state_dict()
    save_ckpt(os.path.join(out, "imagenet256_16384.ckpt"), sd, 0, 0)
    sums = {k: {"shape": list(v.shape), "sum": float(v.double().sum()), "sumsq": float((v.double() ** 2).sum())}
            for k, v in sd.items() if v.dim() > 0}
    with open(os.path.join(out, "checksums.json"), "w") as f:
        json.dump({"parameters": sum(p.numel() for p in tok.parameters()), "tensors": sums}, f)
    print("wrote %s: %d parameters (+ LitEma copy)" % (out, sum(p.numel() for p in tok.parameters())))


def strict(path, kind, out):
    """Loads an exported state dict into the reference modules with strict=True (the test of the reverse
    direction), then checks its tensors equal the original file's."""
    sd = torch.load(path, map_location="cpu")["state_dict"]
    model = VQModel(SMALL) if kind == "tokenizer" else Net2NetTransformer(SMALL)
    model.load_state_dict(sd, strict=True)
    original = torch.load(os.path.join(out, kind + ".ckpt"), map_location="cpu")["state_dict"]
    for k, v in model.state_dict().items():
        if not torch.equal(v, original[k]):
            sys.exit("strict: %s differs from the original file's" % k)
    print("strict: %s loads into the reference %s modules with strict=True; all %d tensors equal the original's"
          % (path, kind, len(sd)))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "small" and len(sys.argv) == 3:
        small(sys.argv[2])
    elif mode == "full" and len(sys.argv) == 3:
        full(sys.argv[2])
    elif mode == "strict" and len(sys.argv) == 5:
        strict(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
