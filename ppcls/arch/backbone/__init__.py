"""Model zoo: importing this package registers every builder in :data:`MODELS`."""
from ppcls.arch.backbone.registry import MODELS
from ppcls.arch.backbone.model_zoo.micronet import MicroNet_M0, MicroNet_M1, MicroNet_M2, MicroNet_M3
from ppcls.arch.backbone.model_zoo.ghostnet import GhostNet_x1_0, GhostNet_x1_0_CIFAR, GhostNet_x1_0_CIFAR_PF
from ppcls.arch.backbone.model_zoo.igcv3 import IGCV3_D, IGCV3_D_CIFAR, IGCV3_D_x0_5, IGCV3_D_x0_7
from ppcls.arch.backbone.model_zoo.mobilenet_v2 import MobileNetV2_CIFAR
from ppcls.arch.backbone.model_zoo.mobilenet_v3 import (MobileNetV3_large_x1_0, MobileNetV3_large_x1_0_CIFAR,
                                                       MobileNetV3_large_x1_0_CIFAR_PF)
from ppcls.arch.backbone.model_zoo.parc_mobilenet_v2 import ParC_MobileNetV2_CIFAR, ParC_MobileNetV2_CIFAR_PF
from ppcls.arch.backbone.model_zoo.resnet_cifar import ResNet20_CIFAR, ResNet20_CIFAR_PF
from ppcls.arch.backbone.model_zoo.shufflenet_v2 import (ShuffleNetV2_x1_0, ShuffleNetV2_x1_0_CIFAR,
                                                        ShuffleNetV2_x1_0_CIFAR_PF)

__all__ = [
    "MODELS", "MicroNet_M0", "MicroNet_M1", "MicroNet_M2", "MicroNet_M3",
    "GhostNet_x1_0", "GhostNet_x1_0_CIFAR", "GhostNet_x1_0_CIFAR_PF",
    "IGCV3_D", "IGCV3_D_CIFAR", "IGCV3_D_x0_5", "IGCV3_D_x0_7", "MobileNetV2_CIFAR",
    "MobileNetV3_large_x1_0", "MobileNetV3_large_x1_0_CIFAR", "MobileNetV3_large_x1_0_CIFAR_PF",
    "ParC_MobileNetV2_CIFAR", "ParC_MobileNetV2_CIFAR_PF", "ResNet20_CIFAR", "ResNet20_CIFAR_PF",
    "ShuffleNetV2_x1_0", "ShuffleNetV2_x1_0_CIFAR", "ShuffleNetV2_x1_0_CIFAR_PF",
]
