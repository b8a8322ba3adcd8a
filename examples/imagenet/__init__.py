"""The ImageNet example: Linen ResNets trained with tsx, sharded over every device."""
