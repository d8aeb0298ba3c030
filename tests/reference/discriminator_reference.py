"""PyTorch reference for ibq's PatchGAN discriminator and GAN losses (include/ibq/gan/) -> tests/fixtures/discriminator.h5.

Run with the system interpreter (PyTorch 1.13 CPU, h5py, numpy):
    /usr/bin/python3 tests/reference/discriminator_reference.py

Written from the reference code (TencentARC/SEED-Voken, see docs/math.md; taming's NLayerDiscriminator and
VQLPIPSWithDiscriminator as SEED-Voken uses them): 4x4 convs with padding 1, the first with a bias and
LeakyReLU(0.2), then bias-free convs + BatchNorm2d + LeakyReLU (stride 2 for n < n_layers, stride 1 for the
last of them), a final 1-channel conv with a bias; weights_init (conv N(0, 0.02), BatchNorm N(1, 0.02) / 0);
the module names of nn.Sequential `main`. Small configuration: 3 input channels, ndf 4, n_layers 3, two 32x32 images.

Written (float64): params/<state-dict name>; buffers/<name> before and after; x [2,3,32,32];
logits (training mode, batch statistics); logits_eval (running statistics after that call); r (random,
like logits); grads of L = sum(logits * r) with respect to x (grad_x) and every parameter (grads/<name>);
running statistics after the training call (running/<name>). GAN losses on two logit tensors
real/fake [2,1,2,2]: hinge_d, vanilla_d, gen (non-saturating on the per-image mean logit), lecam with anchors
ema_real/ema_fake, and their gradients.
"""
import os

import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20261201)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "discriminator.h5")
IN_CH, NDF, N_LAYERS, SIZE, BATCH = 3, 4, 3, 32, 2


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers):
        super().__init__()
        seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1, bias=False),
                    nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.main = nn.Sequential(*seq)

    def forward(self, x):
        return self.main(x)


def weights_init(m):
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def hinge_d_loss(real, fake):
    return 0.5 * (torch.mean(F.relu(1.0 - real)) + torch.mean(F.relu(1.0 + fake)))


def vanilla_d_loss(real, fake):
    return 0.5 * (torch.mean(F.softplus(-real)) + torch.mean(F.softplus(fake)))


def gen_loss(fake):  # non-saturating, on the per-image mean patch logit
    return torch.mean(F.softplus(-fake.mean(dim=(1, 2, 3))))


def lecam(real, fake, ema_real, ema_fake):
    return torch.mean(F.relu(real - ema_fake) ** 2) + torch.mean(F.relu(ema_real - fake) ** 2)


def main():
    d = NLayerDiscriminator(IN_CH, NDF, N_LAYERS).to(DT)
    d.apply(weights_init)
    # Make the running statistics non-trivial so the eval path is tested with real values.
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(BATCH, IN_CH, SIZE, SIZE, dtype=DT, requires_grad=True)
    with h5py.File(OUT, "w") as f:
        f.attrs["in_channels"], f.attrs["ndf"], f.attrs["n_layers"] = IN_CH, NDF, N_LAYERS
        for name, p in d.state_dict().items():
            group = "buffers/" if ("running" in name or "num_batches" in name) else "params/"
            if "num_batches" in name:
                continue
            f[group + "loss.discriminator." + name] = p.detach().numpy()
        f["x"] = x.detach().numpy()
        d.train()
        logits = d(x)
        f["logits"] = logits.detach().numpy()
        r = torch.randn_like(logits)
        f["r"] = r.numpy()
        (logits * r).sum().backward()
        f["grad_x"] = x.grad.numpy()
        for name, p in d.named_parameters():
            f["grads/loss.discriminator." + name] = p.grad.numpy()
        for name, b in d.named_buffers():
            if "running" in name:
                f["running/loss.discriminator." + name] = b.numpy()
        d.eval()
        with torch.no_grad():
            f["logits_eval"] = d(x.detach()).numpy()

        real = torch.randn(BATCH, 1, 2, 2, dtype=DT, requires_grad=True)
        fake = (torch.randn(BATCH, 1, 2, 2, dtype=DT) - 0.5).requires_grad_(True)
        ema_real, ema_fake = 0.3, -0.2
        f["real"], f["fake"] = real.detach().numpy(), fake.detach().numpy()
        f.attrs["ema_real"], f.attrs["ema_fake"] = ema_real, ema_fake
        for name, fn in [("hinge_d", lambda: hinge_d_loss(real, fake)), ("vanilla_d", lambda: vanilla_d_loss(real, fake)),
                         ("gen", lambda: gen_loss(fake)), ("lecam", lambda: lecam(real, fake, ema_real, ema_fake))]:
            real.grad, fake.grad = None, None
            v = fn()
            v.backward()
            f["losses/" + name] = v.detach().numpy()
            f["losses/" + name + "_grad_real"] = (real.grad if real.grad is not None else torch.zeros_like(real)).numpy()
            f["losses/" + name + "_grad_fake"] = fake.grad.numpy()
    print("wrote", OUT)


if __name__ == "__main__":
    main()
