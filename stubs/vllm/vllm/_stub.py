"""The machinery of ProUIE's vLLM stub (see ``vllm/__init__.py``): every submodule and name imports, none works."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any


class VLLMStubError(RuntimeError):
    """Raised on any use of the stub."""


def _refusal(name: str) -> VLLMStubError:
    return VLLMStubError(
        f"{name} is not available: this is ProUIE's vLLM stub for a CPU-only engine environment "
        "(scripts/setup_engine.sh). Rollouts need a CUDA machine, where the set-up installs the real vLLM.")


class _Refusing(type):
    """Metaclass of the stand-ins: reading any attribute of the class itself raises too."""

    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise _refusal(f"{cls.__module__}.{cls.__name__}.{attr}")


def unavailable(name: str) -> type:
    """A stand-in for vLLM's ``name``: it can be imported and subclassed, not instantiated, called or read."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise _refusal(name)

    module, _, short = name.rpartition(".")
    return _Refusing(short, (), {"__init__": refuse, "__call__": refuse, "__module__": module})


def stub_getattr(module: str):
    """A module ``__getattr__`` that hands out :func:`unavailable` classes for any public name."""

    def __getattr__(attr: str) -> type:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return unavailable(f"{module}.{attr}")

    return __getattr__


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__getattr__ = stub_getattr(spec.name)
        module.__path__ = []  # a package, so that deeper submodules import too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _Finder(importlib.abc.MetaPathFinder):
    """Finds every ``vllm.<anything>`` as an empty stub package."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("vllm."):
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)


def install_finder() -> None:
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_Finder())
