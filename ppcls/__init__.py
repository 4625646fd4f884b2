"""PaddleClas-compatible image classification with MicroNet and the other model families."""
import warnings

# Importing paddle imports paddle.utils.cpp_extension, which warns that ccache is missing; ccache
# only speeds up rebuilding C++ extensions, and this project builds its kernels once
# (ppcls/arch/ops), so that one warning is noise to every user of every tool.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
