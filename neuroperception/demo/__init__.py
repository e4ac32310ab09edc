"""The demo on the embedded default: scenes of the miniature world → its trained models, simulated brain
and simulated observers → one HTML report.

Each section is a function ``section(ctx, report)`` registered with :func:`demo_section` in one
module of this package; :func:`run_demo` runs them in the order the modules are imported below and
writes ``out_dir/index.html``. Nothing is downloaded: the world's CNN and CLIP ship their trained
weights in the package, the Gabor pyramid and motion energy are weight-free, the brain and the
observers are simulated with a known truth. A network with random weights appears only where a
section is about an architecture, and the section says so. Each section ends with a "What this
shows" line: what its numbers show in this run, and the paper it mirrors.
"""

from .registry import DemoContext, correlation_rdm, demo_section, run_demo

from . import basics  # noqa: E402,F401  (sections, in report order)
from . import brain  # noqa: E402,F401
from . import encoding  # noqa: E402,F401
from . import readouts  # noqa: E402,F401
from . import decoding  # noqa: E402,F401
from . import subjects  # noqa: E402,F401
from . import similarity  # noqa: E402,F401
from . import triplets  # noqa: E402,F401
from . import scanpaths  # noqa: E402,F401
from . import rewards  # noqa: E402,F401

__all__ = ["run_demo", "demo_section", "DemoContext", "correlation_rdm"]
