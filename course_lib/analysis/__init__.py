"""The experiments the notebooks show, above the library's layers and below the figures.

Each function computes arrays or records from the math layers (``sdes``, ``solvers``, ``toy``),
the policy and the environment; :mod:`course_lib.plots` draws what they return.

- :mod:`.gaussian`: samplers on Gaussian data with exact scores, output variances without
  Monte-Carlo noise (notebooks 03-05, 09);
- :mod:`.corrections`: the VE and CLD samplers of notebook 10 against their corrections;
- :mod:`.chunks`: a policy's losses by time and its sampled action chunks (notebooks 07, 08, 10).
"""
