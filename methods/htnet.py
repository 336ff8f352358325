"""HTNet: hierarchical transformer network for micro-expression recognition.

Wang, Z., Zhang, K., Luo, W., Sankaranarayana, R. "HTNet for micro-expression recognition."
Neurocomputing 602 (2024). Code: https://github.com/wangzhifengharrison/HTNet

The input is the `htnet-regions` image: four 14x14 optical-flow windows around the eyes and
mouth corners tiled into 28x28. It is cut into 7x7 patches (a 4x4 grid), and a stack of
transformer levels attends first within small blocks of patches (local), then within larger
ones, with a convolutional aggregation (conv 3x3, layer norm, max-pool) between levels.

Module names follow the published implementation so that released checkpoints load unchanged.
That implementation's arithmetic is kept on purpose, since checkpoints depend on it: the
attention width is `(dim // heads) * heads` (255, not 256, for dim 256 and 3 heads), and the
positional embedding has one element per block token (a single element at 28x28 with patch 7).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from einops import rearrange
from einops.layers.torch import Rearrange, Reduce
from torch import nn

from mebench.method import MethodInfo
from mebench.params import BatchSize, DropoutRate, Epochs, LearningRate, PositiveInt
from mebench.training import TorchMethod


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of (B, C, H, W) maps, with parameters named g and b."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        return (x - mean) / (var + self.eps).sqrt() * self.g + self.b


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = ChannelLayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mlp_mult: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(dim, dim * mlp_mult, 1), nn.GELU(), nn.Dropout(dropout),
            nn.Conv2d(dim * mlp_mult, dim, 1), nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head self-attention over the spatial positions of a (B, C, H, W) map, with 1x1 convs."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        dim_head = dim // heads
        inner = dim_head * heads
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Conv2d(dim, inner * 3, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.to_out = nn.Sequential(nn.Conv2d(inner, dim, 1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        q, k, v = (rearrange(t, "b (h d) x y -> b h (x y) d", h=self.heads) for t in self.to_qkv(x).chunk(3, dim=1))
        attn = self.dropout(torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1))
        out = rearrange(attn @ v, "b h (x y) d -> b (h d) x y", x=h, y=w)
        return self.to_out(out)


class TransformerLevel(nn.Module):
    def __init__(self, dim: int, seq_len: int, depth: int, heads: int, mlp_mult: int, dropout: float):
        super().__init__()
        self.pos_emb = nn.Parameter(torch.randn(seq_len))
        self.layers = nn.ModuleList(
            nn.ModuleList([PreNorm(dim, Attention(dim, heads, dropout)), PreNorm(dim, FeedForward(dim, mlp_mult, dropout))])
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = x + self.pos_emb[: h * w].reshape(1, 1, h, w)
        for attn, ff in cast(Iterable[nn.ModuleList], self.layers):  # torch types the items as Module
            x = attn(x) + x
            x = ff(x) + x
        return x


def aggregate(dim_in: int, dim_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(dim_in, dim_out, 3, padding=1), ChannelLayerNorm(dim_out), nn.MaxPool2d(3, stride=2, padding=1))


def patch_embedding(channels: int, patch_size: int, dim: int) -> nn.Sequential:
    """Each patch_size x patch_size patch of a (B, C, H, W) image flattened and projected to `dim` channels."""
    return nn.Sequential(Rearrange("b c (h p1) (w p2) -> b (p1 p2 c) h w", p1=patch_size, p2=patch_size),
                         nn.Conv2d(channels * patch_size**2, dim, 1))


def hierarchy(*, image_size: int, patch_size: int, dim: int, heads: int, num_hierarchies: int,
              block_repeats: tuple[int, ...], mlp_mult: int, dropout: float) -> nn.ModuleList:
    """HTNet's levels: [transformer, aggregation] per hierarchy, widths dim * 2^i and heads heads * 2^i
    (the last level aggregates nothing). Its output has dim * 2^(num_hierarchies - 1) channels."""
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
    if len(block_repeats) != num_hierarchies:
        raise ValueError(f"block_repeats {block_repeats} needs one entry per hierarchy ({num_hierarchies})")
    fmap = image_size // patch_size
    seq_len = (fmap // 2 ** (num_hierarchies - 1)) ** 2  # tokens per block, constant across levels
    mults = [2**i for i in range(num_hierarchies)]
    dims = [dim * m for m in mults] + [dim * mults[-1]]
    return nn.ModuleList(
        nn.ModuleList([TransformerLevel(dims[i], seq_len, depth, heads * mult, mlp_mult, dropout),
                       nn.Identity() if i == num_hierarchies - 1 else aggregate(dims[i], dims[i + 1])])
        for i, (mult, depth) in enumerate(zip(mults, block_repeats)))


def run_hierarchy(x: torch.Tensor, layers: nn.ModuleList) -> torch.Tensor:
    """The levels applied to patch embeddings: attention within blocks of tokens, many small blocks first,
    one block covering everything last, each level followed by its aggregation."""
    for i, (transformer, agg) in enumerate(cast(Iterable[nn.ModuleList], layers)):  # items typed as Module
        blocks = 2 ** (len(layers) - 1 - i)
        x = rearrange(x, "b c (b1 h) (b2 w) -> (b b1 b2) c h w", b1=blocks, b2=blocks)
        x = transformer(x)
        x = rearrange(x, "(b b1 b2) c h w -> b c (b1 h) (b2 w)", b1=blocks, b2=blocks)
        x = agg(x)
    return x


class HTNet(nn.Module):
    def __init__(self, *, image_size: int, patch_size: int, num_classes: int, dim: int, heads: int,
                 num_hierarchies: int, block_repeats: tuple[int, ...], mlp_mult: int = 4, channels: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        self.to_patch_embedding = patch_embedding(channels, patch_size, dim)
        self.layers = hierarchy(image_size=image_size, patch_size=patch_size, dim=dim, heads=heads,
                                num_hierarchies=num_hierarchies, block_repeats=block_repeats, mlp_mult=mlp_mult,
                                dropout=dropout)
        width = dim * 2 ** (num_hierarchies - 1)
        self.mlp_head = nn.Sequential(ChannelLayerNorm(width), Reduce("b c h w -> b c", "mean"), nn.Linear(width, num_classes))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.mlp_head(run_hierarchy(self.to_patch_embedding(img), self.layers))


class HTNetMethod(TorchMethod):
    info = MethodInfo(
        name="htnet", display_name="HTNet",
        summary="HTNet (Wang et al., Neurocomputing 2024): hierarchical transformer on facial-region optical flow",
        input="htnet-regions",
        citation="Wang, Z., Zhang, K., Luo, W., Sankaranarayana, R. HTNet for micro-expression recognition. "
        "Neurocomputing 602, 128196 (2024).",
        code_url="https://github.com/wangzhifengharrison/HTNet",
        tags=("htnet", "transformer"),
        presets={
            # The paper's configuration (the released script uses block_repeats (2, 2, 8)).
            "paper": dict(image_size=28, patch_size=7, dim=256, heads=3, num_hierarchies=3, block_repeats=(2, 2, 10),
                          epochs=800, lr=5e-5, batch_size=256, shuffle=False),
            # cheap, labelled [quick] (issue 23: 20 epochs, was 40; CausalNet's quick sets its own epochs)
            "quick": dict(image_size=28, patch_size=7, dim=32, heads=2, num_hierarchies=3, block_repeats=(1, 1, 2),
                          epochs=20, lr=1e-3, batch_size=64, shuffle=True),
        },
    )

    # Listed before the training parameters, which are re-declared below them (mebench.params.Parameterised).
    image_size: PositiveInt = 28
    patch_size: PositiveInt = 7
    dim: PositiveInt = 256
    heads: PositiveInt = 3
    num_hierarchies: PositiveInt = 3
    block_repeats: tuple[int, ...] = (2, 2, 10)
    mlp_mult: PositiveInt = 4
    dropout: DropoutRate = 0.0
    epochs: Epochs = 800
    lr: LearningRate = 5e-5
    batch_size: BatchSize = 256
    shuffle: bool = False

    def build_network(self) -> nn.Module:
        return HTNet(image_size=self.image_size, patch_size=self.patch_size, num_classes=self.num_classes, dim=self.dim,
                     heads=self.heads, num_hierarchies=self.num_hierarchies, block_repeats=tuple(self.block_repeats),
                     mlp_mult=self.mlp_mult, dropout=self.dropout)


def htnet_variant(name: str, display_name: str, input: str, summary: str) -> MethodInfo:
    """The declaration of an HTNet variant: HTNet's network, citation and presets on another input."""
    return MethodInfo(name=name, display_name=display_name, summary=summary, input=input,
                      citation=HTNetMethod.info.citation, code_url=HTNetMethod.info.code_url,
                      tags=("htnet-variant", "transformer"), presets=HTNetMethod.info.presets)


class HTNetCorrectedMethod(HTNetMethod):
    """HTNet on `htnet-regions-corrected`: the same network and presets, with each region window centred
    on its landmark (the published tiling uses the landmark's x as the row). Comparing it with `htnet`
    measures what the published quirk costs or buys."""

    info = htnet_variant("htnet-corrected", "HTNet (corrected windows)", "htnet-regions-corrected",
                         "HTNet with landmark windows centred as intended (published code swaps rows and columns)")


class HTNetTemplateMethod(HTNetMethod):
    """HTNet on `htnet-regions-template`: the same network and presets, its windows cut around the one fixed
    template CausalNet uses for every clip (HTNet's fallback landmarks). Runs on data without apex faces
    (causalnet-release), where it is HTNet on CausalNet's first map and input geometry."""

    info = htnet_variant("htnet-template", "HTNet (fixed template)", "htnet-regions-template",
                         "HTNet with its windows around one fixed template for every clip (CausalNet's cut; no faces needed)")


class HTNetDlibMethod(HTNetMethod):
    """HTNet on `htnet-regions-dlib`: the published tiling around dlib's landmarks instead of the published
    MTCNN step (on htnet-release). Comparing it with `htnet` measures what the landmark step does."""

    info = htnet_variant("htnet-dlib", "HTNet (dlib landmarks)", "htnet-regions-dlib",
                         "HTNet with regions around dlib landmarks instead of the published MTCNN step (htnet-release)")


class HTNetCASME3Method(HTNetMethod):
    """HTNet on its CAS(ME)^3 input (`htnet-casme3`): the published tiling of the (u, v, magnitude) flow image
    that `--pipeline htnet-casme3` computes from MTCNN face crops, as the HTNet repository does for CAS(ME)^3."""

    info = htnet_variant("htnet-casme3", "HTNet (CAS(ME)^3 input)", "htnet-casme3",
                         "HTNet on its CAS(ME)^3 input: (u, v, magnitude) flow of MTCNN face crops (--pipeline htnet-casme3)")
