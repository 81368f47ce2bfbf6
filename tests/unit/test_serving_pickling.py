"""Ray Serve's "pickle by value" registrations stay correct when threads overlap
(`waza.services.serving.pickling`): what failed a deploy in CI with "... is not registered for
pickle by value"."""

from __future__ import annotations

import threading

import pytest
from ray import cloudpickle
from ray.serve import _private as serve_private

from waza.services.serving.pickling import make_registry_thread_safe


def overlap(module: object) -> list[BaseException]:
    """Two threads register, pickle and unregister the same module in an interleaving that a
    plain set cannot survive: A registers, B registers, A unregisters, B unregisters."""
    errors: list[BaseException] = []
    steps = [threading.Event() for _ in range(3)]

    def a() -> None:
        try:
            cloudpickle.register_pickle_by_value(module)
            steps[0].set()
            steps[1].wait(5)
            cloudpickle.unregister_pickle_by_value(module)
            steps[2].set()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)
            steps[2].set()

    def b() -> None:
        try:
            steps[0].wait(5)
            cloudpickle.register_pickle_by_value(module)
            steps[1].set()
            steps[2].wait(5)
            assert module.__name__ in cloudpickle.list_registry_pickle_by_value()
            cloudpickle.unregister_pickle_by_value(module)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return errors


def test_overlapping_registrations_are_counted() -> None:
    make_registry_thread_safe()
    make_registry_thread_safe()  # idempotent
    assert overlap(serve_private) == []
    assert serve_private.__name__ not in cloudpickle.list_registry_pickle_by_value()
    with pytest.raises(ValueError, match="not registered"):  # a stray unregister still fails
        cloudpickle.unregister_pickle_by_value(serve_private)
