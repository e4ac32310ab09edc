"""One pipeline from a config file: images -> features -> (per subject) encoding fit -> scores and brain maps.

``neuroperception encode CONFIG.toml`` calls :func:`run_pipeline`; each stage is the library call a
user would make by hand, so the pipeline's scores equal theirs. See the user guide's pipeline page
for every key of the config.

Examples
--------
>>> from neuroperception.pipeline import load_config
>>> load_config({"features": {"model": "gabor", "layers": ["scale1"]},
...              "responses": {"simulated": {}}})["features"]["pooling"]
'avg'
"""

from .config import load_config
from .record import config_digest, dump_config, versions
from .runner import PipelineResult, run_pipeline

__all__ = ["run_pipeline", "PipelineResult", "load_config", "config_digest", "dump_config", "versions"]
