r"""Image classifiers for the vision task: an MLP, a LeNet-size CNN and ResNet-18.

Every model takes a batch of images ``[B, C, H, W]`` (or flattened ``[B, C*H*W]``
rows, reshaped with the ``in_shape`` given at construction) and returns logits
``[B, num_classes]``. Each exposes ``features(x)`` (the penultimate representation) and
``classifier`` (the final :class:`~torch.nn.Linear`), which Boundary Expanding needs to
widen the head with a shadow class.

==============  ===============================================================================
name            model
==============  ===============================================================================
``mlp``         two hidden ReLU layers of ``hidden_channels`` units
``cnn``         LeNet-5 style (LeCun et al., 1998): conv5-6, pool, conv5-16, pool, fc120, fc84
                (``lenet`` is an alias); "same" padding, so 8x8 digits and 28x28 MNIST both fit
``resnet18``    ResNet-18 (He et al., CVPR 2016), CIFAR-style 3x3 stem without max-pool, the
                usual backbone of SalUn / SCRUB / Boundary Unlearning; written here because
                torchvision is not a dependency. Device-agnostic, meant for a GPU.
==============  ===============================================================================
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphforget._registry import normalize
from graphforget.errors import UnknownNameError

__all__ = ["VisionMLP", "LeNet", "ResNet18", "build_vision_model", "vision_model_names"]


def _as_images(x: Tensor, in_shape: tuple[int, int, int]) -> Tensor:
    return x.reshape(x.size(0), *in_shape)


class VisionMLP(nn.Module):
    """Flatten, then ``Linear-ReLU-Linear-ReLU-Linear``.

    Args:
        in_shape (tuple): ``(C, H, W)`` of one image.
        num_classes (int): outputs.
        hidden_channels (int): width of both hidden layers. (default: :obj:`128`)
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, hidden_channels: int = 128) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        d = self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
        self.body = nn.Sequential(nn.Linear(d, hidden_channels), nn.ReLU(),
                                  nn.Linear(hidden_channels, hidden_channels), nn.ReLU())
        self.classifier = nn.Linear(hidden_channels, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x.reshape(x.size(0), -1))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class LeNet(nn.Module):
    """LeNet-5 with "same" padding: ``conv5(C→6)-ReLU-pool2-conv5(6→16)-ReLU-pool2-fc120-fc84``.

    Args:
        in_shape (tuple): ``(C, H, W)``; ``H`` and ``W`` must be at least 4.
        num_classes (int): outputs.
        hidden_channels (int): width of the first fully connected layer (``84`` follows,
            scaled in proportion). (default: :obj:`120`)
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, hidden_channels: int = 120) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        c, h, w = self.in_shape
        if h < 4 or w < 4:
            raise ValueError(f"LeNet needs images of at least 4x4, got {h}x{w}")
        self.conv = nn.Sequential(nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        flat = 16 * (h // 4) * (w // 4)
        second = max(1, round(hidden_channels * 84 / 120))
        self.fc = nn.Sequential(nn.Linear(flat, hidden_channels), nn.ReLU(),
                                nn.Linear(hidden_channels, second), nn.ReLU())
        self.classifier = nn.Linear(second, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(_as_images(x, self.in_shape)).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18: a 3x3 stem, four stages of two basic blocks (64, 128, 256, 512
    channels, strides 1, 2, 2, 2), global average pooling and a linear classifier.

    Args:
        in_shape (tuple): ``(C, H, W)``.
        num_classes (int): outputs.
        hidden_channels (int): width of the first stage (``64`` is the standard
            ResNet-18; smaller values give a thinner network). (default: :obj:`64`)
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, hidden_channels: int = 64) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        w = hidden_channels
        self.stem = nn.Sequential(nn.Conv2d(self.in_shape[0], w, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(w), nn.ReLU())
        layers, cin = [], w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, num_classes)

    def features(self, x: Tensor) -> Tensor:
        out = self.layers(self.stem(_as_images(x, self.in_shape)))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


_MODELS = {"mlp": VisionMLP, "cnn": LeNet, "lenet": LeNet, "resnet18": ResNet18}


def vision_model_names() -> list[str]:
    return sorted(_MODELS)


def build_vision_model(name: str, in_shape: tuple[int, int, int], num_classes: int,
                       hidden_channels: int | None = None) -> nn.Module:
    """Builds a vision classifier by name (``mlp``, ``cnn``/``lenet``, ``resnet18``);
    ``hidden_channels=None`` takes the model's default width."""
    key = normalize(name)
    if key not in _MODELS:
        raise UnknownNameError(f"unknown vision model {name!r}; choose one of: {', '.join(vision_model_names())}")
    kwargs = {} if hidden_channels is None else {"hidden_channels": int(hidden_channels)}
    return _MODELS[key](tuple(in_shape), int(num_classes), **kwargs)
