"""The product's areas as the benchmark sees them: a data generator and pages each.

Importing this package registers every area; an area whose tables are missing is
skipped at run time, so each module may refer to models that exist on main.
"""

from bench.areas import commissary as commissary
from bench.areas import learning as learning
from bench.areas import requests as requests
from bench.areas import whitelist as whitelist
