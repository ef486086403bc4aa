"""pytest configuration shared by the unit tests and nbval (`pytest --nbval solutions/`)."""


def pytest_collectstart(collector):
    # nbval compares stored outputs strictly, except stderr: TensorFlow and its C++ runtime write
    # start-up lines there whose content depends on the machine (CPU flags, CUDA, oneDNN).
    # See docs/maintainers/reference.md, "Toolchain pitfalls".
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare += ("stderr",)
