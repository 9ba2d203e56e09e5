"""Neural network modules: plain `nn.Module`s configured by dataclasses."""
