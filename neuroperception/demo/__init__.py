"""The demo on the embedded default: shipped photographs and gratings → features → brain,
similarity → one HTML report.

Each section is a function ``section(ctx, report)`` registered with :func:`demo_section` in one
module of this package; :func:`run_demo` runs them in the order the modules are imported below and
writes ``out_dir/index.html``. Nothing is downloaded: the Gabor pyramid is weight-free, networks
are seeded random inits (the report says so), the brain is simulated.
"""

from .registry import DemoContext, correlation_rdm, demo_section, run_demo

from . import basics  # noqa: E402,F401  (sections, in report order)
from . import brain  # noqa: E402,F401
from . import encoding  # noqa: E402,F401
from . import readouts  # noqa: E402,F401
from . import decoding  # noqa: E402,F401
from . import similarity  # noqa: E402,F401
from . import triplets  # noqa: E402,F401
from . import scanpaths  # noqa: E402,F401
from . import rewards  # noqa: E402,F401

__all__ = ["run_demo", "demo_section", "DemoContext", "correlation_rdm"]
