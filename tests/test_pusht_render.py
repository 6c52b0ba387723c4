"""The headless renderer: colours where the bodies are, purity, sizes."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.pusht import constants as C
from course_lib.pusht import render_scene

STATE = np.array([100.0, 400.0, 400.0, 150.0, 0.0])


def pixel_at(image: np.ndarray, x: float, y: float) -> np.ndarray:
    """The pixel showing world point (x, y)."""
    scale = image.shape[0] / C.WORLD_SIZE
    return image[int(y * scale), int(x * scale)]


@pytest.mark.parametrize("size", [96, 512])
def test_bodies_are_drawn_in_their_colours(size):
    image = render_scene(STATE, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(pixel_at(image, 100, 400), C.AGENT_COLOR)  # agent centre
    np.testing.assert_array_equal(pixel_at(image, 400, 165), C.BLOCK_COLOR)  # inside the bar
    np.testing.assert_array_equal(pixel_at(image, 256, 262), C.GOAL_COLOR)  # goal, near its origin
    np.testing.assert_array_equal(pixel_at(image, 60, 250), C.BACKGROUND_COLOR)


def test_render_is_a_pure_function_of_its_inputs():
    first = render_scene(STATE, 96)
    render_scene(np.array([300.0, 300.0, 200.0, 200.0, 1.0]), 96, action=[10, 10])
    np.testing.assert_array_equal(render_scene(STATE, 96), first)


def test_action_marker_is_red_at_the_target():
    image = render_scene(STATE, 512, action=np.array([60.0, 250.0]))
    np.testing.assert_array_equal(pixel_at(image, 60, 250), C.ACTION_COLOR)
    np.testing.assert_array_equal(pixel_at(render_scene(STATE, 512), 60, 250), C.BACKGROUND_COLOR)


def test_render_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        render_scene(np.zeros(4))
    with pytest.raises(ValueError, match="positive integer"):
        render_scene(STATE, 0)
