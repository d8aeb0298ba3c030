#!/usr/bin/env python3
"""Moves IBQ weights between SEED-Voken's Lightning checkpoints and ibq's HDF5 checkpoints, both ways.

    hpc/import_seed_voken.py import imagenet256_16384.ckpt ibq_16384.h5
    hpc/import_seed_voken.py import AR_256_B.ckpt ar_B.h5              # + ar_B-tokenizer.h5 (its K = 16384 tokenizer)
    hpc/import_seed_voken.py export ibq_16384.h5 back.ckpt             # SEED-Voken's VQModel loads it (strict)
    hpc/import_seed_voken.py export ar_B.h5 back_AR.ckpt               # Net2NetTransformer loads it (strict)

Needs numpy and h5py only: hpc/torch_zip.py reads and writes PyTorch's zip format tensor by tensor, so an
8.7 GB AR-XXL file never sits in memory whole, and no PyTorch is needed (files in PyTorch's pre-1.6
format are read with torch.load when PyTorch is installed).

What is read (TencentARC/SEED-Voken; see docs/formats.md, "Released IBQ weights"):
  tokenizer  state_dict: encoder.*, decoder.*, quant_conv.*, post_quant_conv.*, quantize.embedding.weight
             [K, D], and LitEma's copies model_ema.<name without dots> (model_ema.decay, .num_updates too).
             Written: an ibq tokenizer checkpoint with params/ (the raw weights) and ema/ (LitEma's), so
             the drivers' default (input.weights = ema) evaluates what the paper evaluated.
  AR         state_dict: transformer.* (ibq's own names) and first_stage_model.* (the tokenizer, holding
             its EMA values under plain names). Written: an ibq AR checkpoint, and the tokenizer as its own
             checkpoint (params and ema both those values); the AR checkpoint names it, so ibq-sample needs
             no input.tokenizer.
The architecture is inferred from the shapes (K, D, ch, ch_mult, blocks, attention levels; AR layers,
width, vocabulary, classes). Two facts are not in the weights: the image size (--resolution, 256 for every
released tokenizer) and the AR head count (--heads; the released B/L/XL/XXL are recognised by their
layers and width, all with head dim 64). Every key not used is listed, every key needed and missing is an
error, and so is a shape that differs from the architecture's (both shapes named).
"""
import argparse
import collections
import datetime
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import durable  # noqa: E402
import torch_zip  # noqa: E402

PROG = "import_seed_voken"
# Released AR sizes (docs/math.md): layers, width -> preset; head dim 64 in all four.
AR_PRESETS = {(16, 1024): "B", (20, 1280): "L", (24, 1536): "XL", (30, 1920): "XXL"}
AR_MULTIPLE_OF = 256  # the reference GPT's multiple_of (SwiGLU hidden size rounding), in all presets
EMA_DECAY = 0.999     # LitEma's default, as the reference builds it


class ImportError_(Exception):
    pass


def fail(msg):
    raise ImportError_(msg)


# -----------------------------------------------------------------------------------------------------
# Architectures as ibq declares them (include/ibq/models/autoencoder.hpp, tokenizer.hpp, ar_transformer.hpp):
# name -> shape of every parameter, in declaration order.

def _conv(out, name, cin, cout, k):
    out[name + ".weight"] = (cout, cin, k, k)
    out[name + ".bias"] = (cout,)


def _norm(out, name, c):
    out[name + ".weight"] = (c,)
    out[name + ".bias"] = (c,)


def _resblock(out, p, cin, cout):
    _norm(out, p + ".norm1", cin)
    _norm(out, p + ".norm2", cout)
    _conv(out, p + ".conv1", cin, cout, 3)
    _conv(out, p + ".conv2", cout, cout, 3)
    if cin != cout:
        _conv(out, p + ".nin_shortcut", cin, cout, 1)


def _attn(out, p, c):
    _norm(out, p + ".norm", c)
    for m in ("q", "k", "v", "proj_out"):
        _conv(out, p + "." + m, c, c, 1)


def _mid(out, p, c):
    _resblock(out, p + ".block_1", c, c)
    _resblock(out, p + ".block_2", c, c)
    _attn(out, p + ".attn_1", c)


def tokenizer_shapes(a):
    """a: dict with ch, ch_mult, num_res_blocks, attn_resolutions, z_channels, in_channels, out_ch,
    resolution, codebook_size, embed_dim."""
    s = collections.OrderedDict()
    ch, mult, L = a["ch"], a["ch_mult"], len(a["ch_mult"])
    _conv(s, "encoder.conv_in", a["in_channels"], ch, 3)
    res, block_in = a["resolution"], ch
    for i in range(L):
        block_out = ch * mult[i]
        for j in range(a["num_res_blocks"]):
            _resblock(s, "encoder.down.%d.block.%d" % (i, j), block_in, block_out)
            block_in = block_out
            if res in a["attn_resolutions"]:
                _attn(s, "encoder.down.%d.attn.%d" % (i, j), block_in)
        if i != L - 1:
            _conv(s, "encoder.down.%d.downsample.conv" % i, block_in, block_in, 3)
            res //= 2
    _mid(s, "encoder.mid", block_in)
    _norm(s, "encoder.norm_out", block_in)
    _conv(s, "encoder.conv_out", block_in, a["z_channels"], 3)
    block_in, res = ch * mult[-1], a["resolution"] >> (L - 1)
    _conv(s, "decoder.conv_in", a["z_channels"], block_in, 3)
    _mid(s, "decoder.mid", block_in)
    for i in reversed(range(L)):
        block_out = ch * mult[i]
        for j in range(a["num_res_blocks"] + 1):
            _resblock(s, "decoder.up.%d.block.%d" % (i, j), block_in, block_out)
            block_in = block_out
            if res in a["attn_resolutions"]:
                _attn(s, "decoder.up.%d.attn.%d" % (i, j), block_in)
        if i != 0:
            _conv(s, "decoder.up.%d.upsample.conv" % i, block_in, block_in, 3)
            res *= 2
    _norm(s, "decoder.norm_out", block_in)
    _conv(s, "decoder.conv_out", block_in, a["out_ch"], 3)
    _conv(s, "quant_conv", a["z_channels"], a["embed_dim"], 1)
    _conv(s, "post_quant_conv", a["embed_dim"], a["z_channels"], 1)
    s["quantize.embedding.weight"] = (a["codebook_size"], a["embed_dim"])
    return s


def ffn_hidden(dim, multiple_of=AR_MULTIPLE_OF):
    h = int(2 * (4 * dim) / 3)
    return (h + multiple_of - 1) // multiple_of * multiple_of


def ar_shapes(a):
    s = collections.OrderedDict()
    C, F, V = a["dim"], ffn_hidden(a["dim"]), a["vocab_size"]
    s["tok_emb.weight"] = (V, C)
    s["class_emb.embedding_table.weight"] = (a["classes"] + 1, C)
    for i in range(a["layers"]):
        p = "blocks.%d." % i
        s[p + "attention.wqkv.weight"] = (3 * C, C)
        s[p + "attention.wo.weight"] = (C, C)
        s[p + "feed_forward.w1.weight"] = (F, C)
        s[p + "feed_forward.w3.weight"] = (F, C)
        s[p + "feed_forward.w2.weight"] = (C, F)
        s[p + "attention_norm.weight"] = (C,)
        s[p + "ffn_norm.weight"] = (C,)
        s[p + "ada_lin.1.weight"] = (6 * C, C)
        s[p + "ada_lin.1.bias"] = (6 * C,)
    s["head_nm.rmsnorm.weight"] = (C,)
    s["head_nm.ada_lin.1.weight"] = (2 * C, C)
    s["head_nm.ada_lin.1.bias"] = (2 * C,)
    s["head.weight"] = (V, C)
    return s


# -----------------------------------------------------------------------------------------------------
# Inferring the architecture from a state dict

def _shape(sd, key):
    if key not in sd:
        fail("the checkpoint has no '%s', which every IBQ tokenizer has; is it a SEED-Voken IBQ file?" % key)
    return tuple(sd[key].shape)


def infer_tokenizer(sd, prefix, resolution):
    g = lambda k: _shape(sd, prefix + k)  # noqa: E731
    K, D = g("quantize.embedding.weight")
    ch, in_ch = g("encoder.conv_in.weight")[:2]
    levels = 0
    while prefix + "encoder.down.%d.block.0.conv1.weight" % levels in sd:
        levels += 1
    if levels == 0:
        fail("no encoder.down.0.block.0.conv1.weight: not a taming/SEED-Voken encoder")
    mult = []
    for i in range(levels):
        out = g("encoder.down.%d.block.0.conv1.weight" % i)[0]
        if out % ch:
            fail("encoder.down.%d has %d channels, not a multiple of ch = %d" % (i, out, ch))
        mult.append(out // ch)
    blocks = 0
    while prefix + "encoder.down.0.block.%d.conv1.weight" % blocks in sd:
        blocks += 1
    attn, res = [], resolution
    for i in range(levels):
        if prefix + "encoder.down.%d.attn.0.q.weight" % i in sd:
            attn.append(res)
        if i != levels - 1:
            res //= 2
    if prefix + "encoder.mid.attn_1.q.weight" not in sd:
        fail("no encoder.mid.attn_1: not a taming/SEED-Voken encoder")
    if resolution % (1 << (levels - 1)):
        fail("--resolution %d is not divisible by 2^%d (one halving per level after the first)" % (resolution, levels - 1))
    z = g("encoder.conv_out.weight")[0]
    if z != g("quant_conv.weight")[1]:
        fail("encoder.conv_out gives %d channels but quant_conv takes %d (double_z models are not IBQ's)"
             % (z, g("quant_conv.weight")[1]))
    return dict(ch=ch, ch_mult=mult, num_res_blocks=blocks, attn_resolutions=attn, z_channels=z,
                in_channels=in_ch, out_ch=g("decoder.conv_out.weight")[0], resolution=resolution,
                codebook_size=K, embed_dim=D)


def infer_ar(sd, prefix, grid, heads):
    g = lambda k: _shape(sd, prefix + k)  # noqa: E731
    V, C = g("tok_emb.weight")
    classes = g("class_emb.embedding_table.weight")[0] - 1
    layers = 0
    while prefix + "blocks.%d.attention.wqkv.weight" % layers in sd:
        layers += 1
    if layers == 0:
        fail("no transformer.blocks.0: not a SEED-Voken IBQ AR model")
    F = g("blocks.0.feed_forward.w1.weight")[0]
    if F != ffn_hidden(C):
        fail("blocks.0.feed_forward.w1 has %d hidden units; the reference rule (multiple_of 256) gives %d for "
             "width %d: a model with another multiple_of or ffn_dim_multiplier is not supported" % (F, ffn_hidden(C), C))
    preset = AR_PRESETS.get((layers, C))
    if heads is None:
        if C % 64:
            fail("the head count is not stored in the weights and width %d is not a multiple of 64 (the released "
                 "models' head dim): pass --heads" % C)
        heads = C // 64
    if C % heads or (C // heads) % 4:
        fail("--heads %d: width %d must split into heads whose dim is a multiple of 4 (2-D RoPE)" % (heads, C))
    return dict(preset=preset or "B", layers=layers, dim=C, heads=heads, classes=classes, vocab_size=V, grid=grid)


# -----------------------------------------------------------------------------------------------------
# ibq configurations (the INI each driver stores and rebuilds its model from; drivers/common/*_options.hpp)

def tokenizer_ini(a, source):
    lst = lambda v: ",".join(str(x) for x in v)  # noqa: E731
    return ("# imported by hpc/import_seed_voken.py from %s\n"
            "[data]\nsource = shards\ntrain = \ntest = \n"
            "[model]\nquantizer = ibq\nch = %d\nch_mult = %s\nnum_res_blocks = %d\nattn_resolutions = %s\n"
            "z_channels = %d\nin_channels = %d\nout_ch = %d\nresolution = %d\ndropout = 0\nnorm_groups = 32\n"
            "codebook_size = %d\nembed_dim = %d\n"
            "[quant]\nbeta = 0.25\nbeta_on_codebook = true\ndouble_quant = true\nuse_entropy = true\n"
            "entropy_temperature = 0.01\nsample_entropy_weight = 1\nbatch_entropy_weight = 1\n"
            % (os.path.basename(source), a["ch"], lst(a["ch_mult"]), a["num_res_blocks"], lst(a["attn_resolutions"]),
               a["z_channels"], a["in_channels"], a["out_ch"], a["resolution"], a["codebook_size"], a["embed_dim"]))


def ar_ini(a, source):
    return ("# imported by hpc/import_seed_voken.py from %s\n"
            "[data]\ntokens = \n"
            "[model]\npreset = %s\nlayers = %d\ndim = %d\nheads = %d\nclasses = %d\nvocab_size = %d\ngrid = %d\n"
            "class_dropout = 0.1\ntoken_dropout = 0.1\nresid_dropout = 0.1\nffn_dropout = 0.1\n"
            % (os.path.basename(source), a["preset"], a["layers"], a["dim"], a["heads"], a["classes"],
               a["vocab_size"], a["grid"]))


def parse_ini(text):
    out, section = {}, ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out[section + "." + k.strip()] = v.strip()
    return out


# -----------------------------------------------------------------------------------------------------
# Writing and reading ibq checkpoints (include/ibq/io/checkpoint.hpp's layout)

def write_ibq_checkpoint(path, kind, config, groups, step=0, epoch=0, attrs=None):
    """groups: {"params": [(name, fetch)], "ema": [...]}; each fetch() returns one float32 array, so one
    tensor is in memory at a time. Written durably, with checksums and a manifest, as the C++ writer does (durable.py)."""
    import h5py
    tmp = path + ".tmp"
    try:
        _write_groups(h5py.File(tmp, "w", libver=durable.H5_LIBVER), kind, config, groups, step, epoch, attrs)
        durable.commit(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_groups(file, kind, config, groups, step, epoch, attrs):
    with file as f:
        f.attrs["format"] = "ibq-checkpoint"
        f.attrs["version"] = np.int64(1)
        f.attrs["kind"] = kind
        f.attrs["step"] = np.int64(step)
        f.attrs["epoch"] = np.int64(epoch)
        f.attrs["config"] = config
        f.attrs["world_size"] = np.int64(1)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        out = durable.Datasets(f)
        for group, items in groups.items():
            for name, fetch in items:
                out.write(group + "/" + name, np.ascontiguousarray(fetch(), dtype=np.float32))
        out.write("rng/seed", np.array([0], dtype=np.int64))
        out.write("rng/step", np.array([step], dtype=np.int64))
        out.write_manifest()


def read_attr(f, key, default=None):
    if key not in f.attrs:
        return default
    v = f.attrs[key]
    return v.decode() if isinstance(v, bytes) else v


# -----------------------------------------------------------------------------------------------------
# Import

class Report:
    def __init__(self, quiet=False):
        self.quiet = quiet

    def say(self, msg):
        if not self.quiet:
            print(msg)


def load_state_dict(path):
    if not os.path.exists(path):
        fail("'%s' does not exist" % path)
    if torch_zip.is_zip_checkpoint(path):
        try:
            tree = torch_zip.open_checkpoint(path)
        except torch_zip.FormatError:
            raise
        except Exception as e:  # a damaged archive or pickle
            fail("'%s' is a damaged PyTorch checkpoint (%s: %s)" % (path, type(e).__name__, e))
        lazy = True
    else:
        try:
            import torch
        except ImportError:
            fail("'%s' is in PyTorch's pre-1.6 format, which needs PyTorch to read (install python3-torch), or "
                 "re-save it with a newer torch.save" % path)
        try:
            tree = torch.load(path, map_location="cpu")
        except Exception as e:  # torch raises pickle, runtime and EOF errors alike
            fail("'%s' is not a readable PyTorch checkpoint (torch.load: %s); is the file complete?" % (path, e))
        lazy = False
    if isinstance(tree, dict) and "state_dict" in tree:
        sd = tree["state_dict"]
    elif isinstance(tree, dict) and any(k.endswith(".weight") for k in tree):
        sd, tree = tree, {}
    else:
        fail("'%s' holds no state_dict (keys: %s)" % (path, ", ".join(list(tree)[:10]) if isinstance(tree, dict) else type(tree)))
    if not lazy:  # torch tensors -> objects with .shape and .numpy(), as the lazy reader gives
        class _T:
            def __init__(self, t):
                self.t, self.shape = t, tuple(t.shape)

            def numpy(self):
                return self.t.float().numpy() if self.t.is_floating_point() else self.t.numpy()
        sd = {k: _T(v) for k, v in sd.items() if hasattr(v, "shape")}
    return tree, sd


def _step_epoch(tree):
    def as_int(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return 0
    return as_int(tree.get("global_step", 0)), as_int(tree.get("epoch", 0))


def _check(sd, key, shape, name):
    got = tuple(sd[key].shape)
    if got != tuple(shape):
        fail("'%s' has shape %s, the inferred architecture needs %s for %s" % (key, list(got), list(shape), name))


def _fetch(sd, key):
    def fetch():
        a = sd[key].numpy()
        if not np.all(np.isfinite(a)):
            fail("'%s' holds NaN or infinite values; the checkpoint is damaged" % key)
        return a.astype(np.float32, copy=False)
    return fetch


def plan_tokenizer(sd, prefix, resolution, used, ema_mode="litema"):
    """Checks a tokenizer's tensors against the inferred architecture; returns it and what to write.
    ema_mode: litema (model_ema.* keys hold the EMA) or same (the plain values are the EMA values)."""
    a = infer_tokenizer(sd, prefix, resolution)
    shapes = tokenizer_shapes(a)
    missing = [prefix + n for n in shapes if prefix + n not in sd]
    if missing:
        fail("%d tensors the architecture needs are missing, e.g. %s" % (len(missing), ", ".join(missing[:8])))
    for n, s in shapes.items():
        _check(sd, prefix + n, s, n)
    params = [(n, _fetch(sd, prefix + n)) for n in shapes]
    used.update(prefix + n for n in shapes)
    ema_keys = {n: prefix + "model_ema." + n.replace(".", "") for n in shapes}
    present = [n for n in shapes if ema_keys[n] in sd]
    if ema_mode == "litema" and present:
        absent = [ema_keys[n] for n in shapes if ema_keys[n] not in sd]
        if absent:
            fail("the file has LitEma weights (model_ema.*) but lacks %d of them, e.g. %s" % (len(absent), ", ".join(absent[:5])))
        for n, s in shapes.items():
            _check(sd, ema_keys[n], s, "the EMA of " + n)
        ema = [(n, _fetch(sd, ema_keys[n])) for n in shapes]
        used.update(ema_keys.values())
        used.update(k for k in (prefix + "model_ema.decay", prefix + "model_ema.num_updates") if k in sd)
        note = "ema/ = LitEma's weights (model_ema.*)"
    else:
        ema = params
        note = ("ema/ = the same values (the file holds no LitEma copy)" if ema_mode == "litema"
                else "ema/ = the same values (SEED-Voken stores the tokenizer's EMA weights under plain names here)")
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    grid = a["resolution"] >> (len(a["ch_mult"]) - 1)
    summary = ("tokenizer K = %d, D = %d, ch %d x (%s), %d ResnetBlock(s) a level, attention at %s, %dx%d images -> %dx%d tokens; "
               "%d tensors, %d parameters; %s" % (a["codebook_size"], a["embed_dim"], a["ch"],
                                                  ",".join(map(str, a["ch_mult"])), a["num_res_blocks"],
                                                  a["attn_resolutions"], a["resolution"], a["resolution"], grid, grid,
                                                  len(shapes), n_params, note))
    return a, {"params": params, "ema": ema}, summary


def write_tokenizer(out, source, plan, rep, step, epoch):
    a, groups, summary = plan
    write_ibq_checkpoint(out, "tokenizer", tokenizer_ini(a, source), groups, step, epoch,
                         {"imported_from": os.path.abspath(source)})
    rep.say("%s: %s" % (out, summary))


def import_ar(sd, out, tok_out, source, resolution, heads, used, rep, step, epoch):
    """Checks everything (tokenizer and transformer) before writing anything."""
    if not any(k.startswith("first_stage_model.") for k in sd):
        fail("the AR checkpoint holds no first_stage_model.* (its tokenizer); SEED-Voken's Net2NetTransformer "
             "files do")
    tok = plan_tokenizer(sd, "first_stage_model.", resolution, used, ema_mode="same")
    grid = tok[0]["resolution"] >> (len(tok[0]["ch_mult"]) - 1)
    a = infer_ar(sd, "transformer.", grid, heads)
    if a["vocab_size"] != tok[0]["codebook_size"]:
        fail("the AR model's vocabulary (%d) differs from its tokenizer's K (%d)" % (a["vocab_size"], tok[0]["codebook_size"]))
    shapes = ar_shapes(a)
    missing = ["transformer." + n for n in shapes if "transformer." + n not in sd]
    if missing:
        fail("%d tensors the AR architecture needs are missing, e.g. %s" % (len(missing), ", ".join(missing[:8])))
    for n, s in shapes.items():
        _check(sd, "transformer." + n, s, n)
    used.update("transformer." + n for n in shapes)
    write_tokenizer(tok_out, source, tok, rep, step, epoch)
    rel_tok = os.path.relpath(os.path.abspath(tok_out), os.path.dirname(os.path.abspath(out)))
    write_ibq_checkpoint(out, "ar", ar_ini(a, source), {"params": [(n, _fetch(sd, "transformer." + n)) for n in shapes]},
                         step, epoch, {"imported_from": os.path.abspath(source), "tokenizer_checkpoint": rel_tok})
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    rep.say("%s: AR %s%s, %d layers, width %d, %d heads, %d classes, vocabulary %d, %dx%d tokens; %d parameters; "
            "tokenizer %s" % (out, a["preset"], "" if (a["layers"], a["dim"]) in AR_PRESETS else " (resized)", a["layers"],
                             a["dim"], a["heads"], a["classes"], a["vocab_size"], grid, grid, n_params, rel_tok))


def report_unused(sd, used, rep):
    unused = [k for k in sd if k not in used]
    if not unused:
        rep.say("every tensor of the file was used")
        return
    groups = collections.OrderedDict()
    for k in unused:
        groups.setdefault(k.split(".")[0], []).append(k)
    rep.say("%d tensors of the file were not used (%s):" % (len(unused), ", ".join(
        "%s.* %d" % (g, len(v)) for g, v in groups.items())))
    for k in unused:
        rep.say("  unused: %s %s" % (k, list(sd[k].shape)))


def peak_memory_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def cmd_import(args):
    import time
    start = time.time()
    rep = Report(args.quiet)
    outs = [args.output] + ([args.tokenizer_output] if args.tokenizer_output else [])
    tree, sd = load_state_dict(args.input)
    is_ar = any(k.startswith("transformer.") for k in sd)
    tok_out = None
    if is_ar:
        tok_out = args.tokenizer_output or re.sub(r"\.h5$", "", args.output) + "-tokenizer.h5"
        outs = [args.output, tok_out]
    for p in outs:
        if os.path.exists(p) and not args.overwrite:
            fail("'%s' exists; pass --overwrite to replace it" % p)
    step, epoch = _step_epoch(tree if isinstance(tree, dict) else {})
    used = set()
    if is_ar:
        import_ar(sd, args.output, tok_out, args.input, args.resolution, args.heads, used, rep, step, epoch)
    elif any(k.startswith("encoder.") for k in sd):
        write_tokenizer(args.output, args.input, plan_tokenizer(sd, "", args.resolution, used), rep, step, epoch)
    else:
        fail("'%s' is neither a SEED-Voken IBQ tokenizer (encoder.*) nor an AR model (transformer.*); its first "
             "keys are %s" % (args.input, ", ".join(list(sd)[:6])))
    report_unused(sd, used, rep)
    rep.say("imported in %.1f s, peak memory %.0f MB (tensors are streamed one at a time)"
            % (time.time() - start, peak_memory_mb()))


# -----------------------------------------------------------------------------------------------------
# Export

def _h5_fetch(f, name):
    return lambda: f[name][()]


def _open_ibq(path, kind=None):
    import h5py
    if not os.path.exists(path):
        fail("'%s' does not exist" % path)
    f = h5py.File(path, "r")
    if read_attr(f, "format") != "ibq-checkpoint":
        fail("'%s' is not an ibq checkpoint (no format=\"ibq-checkpoint\" attribute)" % path)
    if kind and read_attr(f, "kind") != kind:
        fail("'%s' holds a %s checkpoint, expected a %s one" % (path, read_attr(f, "kind"), kind))
    return f


def _names(f, group):
    out = []
    f[group].visititems(lambda n, obj: out.append(n) if hasattr(obj, "shape") else None)
    return out


def tokenizer_state(f, prefix, with_ema):
    """The tokenizer's state dict entries: plain names (+ LitEma's model_ema.* when with_ema)."""
    cfg = parse_ini(read_attr(f, "config", ""))
    if cfg.get("model.quantizer", "ibq") != "ibq" or cfg.get("model.norm_groups", "32") != "32":
        print("%s: warning: this tokenizer uses quantizer %s and %s GroupNorm groups; SEED-Voken's modules use "
              "IBQ and 32" % (PROG, cfg.get("model.quantizer"), cfg.get("model.norm_groups")), file=sys.stderr)
    sd = collections.OrderedDict()
    names = _names(f, "params")
    has_ema = "ema" in f
    for n in names:
        ds = f["params/" + n]
        # In an AR file SEED-Voken holds the tokenizer's EMA values under the plain names.
        src = "ema/" + n if (not with_ema and has_ema) else "params/" + n
        sd[prefix + n] = torch_zip.Deferred(ds.shape, np.float32, _h5_fetch(f, src))
    if with_ema:
        if not has_ema:
            print("%s: warning: no ema/ group; LitEma's copies are the raw weights" % PROG, file=sys.stderr)
        for n in names:
            src = ("ema/" if has_ema else "params/") + n
            sd[prefix + "model_ema." + n.replace(".", "")] = torch_zip.Deferred(f[src].shape, np.float32, _h5_fetch(f, src))
        sd[prefix + "model_ema.decay"] = np.array(EMA_DECAY, dtype=np.float32)
        sd[prefix + "model_ema.num_updates"] = np.array(-1, dtype=np.int32)  # LitEma(use_num_upates=False)
    return sd


def find_tokenizer_of_ar(f, ar_path, given):
    if given:
        return given
    rel = read_attr(f, "tokenizer_checkpoint")
    if rel:
        p = rel if os.path.isabs(rel) else os.path.join(os.path.dirname(os.path.abspath(ar_path)), rel)
        if os.path.exists(p):
            return p
    tokens = parse_ini(read_attr(f, "config", "")).get("data.tokens", "")
    if tokens:
        import glob
        import h5py
        files = [tokens] if os.path.exists(tokens) else sorted(glob.glob(re.sub(r"\.h5$", "", tokens) + "-*.h5"))
        if files:
            with h5py.File(files[0], "r") as t:
                return read_attr(t, "tokenizer_checkpoint")
    fail("cannot tell which tokenizer '%s' was trained on; pass --tokenizer TOK.h5" % ar_path)


def cmd_export(args):
    if os.path.exists(args.output) and not args.overwrite:
        fail("'%s' exists; pass --overwrite to replace it" % args.output)
    f = _open_ibq(args.input)
    kind = read_attr(f, "kind")
    step, epoch = int(read_attr(f, "step", 0)), int(read_attr(f, "epoch", 0))
    if kind == "tokenizer":
        sd = tokenizer_state(f, "", with_ema=True)
    elif kind == "ar":
        sd = collections.OrderedDict(("transformer." + n, torch_zip.Deferred(f["params/" + n].shape, np.float32,
                                                                             _h5_fetch(f, "params/" + n)))
                                     for n in _names(f, "params"))
        tok_path = find_tokenizer_of_ar(f, args.input, args.tokenizer)
        sd.update(tokenizer_state(_open_ibq(tok_path, "tokenizer"), "first_stage_model.", with_ema=False))
    else:
        fail("'%s' holds a %s checkpoint; only tokenizer and ar checkpoints have SEED-Voken counterparts" % (args.input, kind))
    tree = {"state_dict": sd, "epoch": epoch, "global_step": step,
            "ibq": {"exported_from": os.path.abspath(args.input),
                    "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}}
    tmp = args.output + ".tmp"
    try:
        torch_zip.save_checkpoint(tmp, tree)
        durable.commit(tmp, args.output)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if not args.quiet:
        print("%s: %d tensors (%s) in SEED-Voken's layout; load with torch.load(p)['state_dict']"
              % (args.output, len(sd), kind))


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("import", help="SEED-Voken .ckpt -> ibq HDF5 checkpoint(s)")
    i.add_argument("input", help="SEED-Voken Lightning checkpoint (.ckpt)")
    i.add_argument("output", help="ibq checkpoint to write (.h5)")
    i.add_argument("--tokenizer-output", help="AR files: where to write their tokenizer (default: OUTPUT-tokenizer.h5)")
    i.add_argument("--resolution", type=int, default=256, help="image size of the tokenizer (not in the weights; "
                                                              "256 for every released one)")
    i.add_argument("--heads", type=int, help="AR attention heads (not in the weights; default width / 64, as all "
                                             "released models)")
    i.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    i.add_argument("--quiet", action="store_true")
    e = sub.add_parser("export", help="ibq HDF5 checkpoint -> SEED-Voken .ckpt (state_dict)")
    e.add_argument("input", help="ibq tokenizer or AR checkpoint (.h5)")
    e.add_argument("output", help="checkpoint to write (.ckpt)")
    e.add_argument("--tokenizer", help="AR: the tokenizer checkpoint to embed as first_stage_model (default: the "
                                       "one the AR checkpoint names)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing output")
    e.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "import":
            if args.resolution <= 0:
                fail("--resolution must be positive")
            cmd_import(args)
        else:
            cmd_export(args)
    except (ImportError_, torch_zip.FormatError) as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        print("%s: error: %s; install numpy and h5py (Debian: python3-numpy python3-h5py)" % (PROG, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
