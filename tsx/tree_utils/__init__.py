"""Tree math and state utilities (``optax.tree_utils``'s names)."""

from tsx.tree_utils.arithmetic import *  # noqa: F403
from tsx.tree_utils.arithmetic import __all__ as _arithmetic_all
from tsx.tree_utils.casting import *  # noqa: F403
from tsx.tree_utils.casting import __all__ as _casting_all
from tsx.tree_utils.moments import *  # noqa: F403
from tsx.tree_utils.moments import __all__ as _moments_all
from tsx.tree_utils.params_mapping import *  # noqa: F403
from tsx.tree_utils.params_mapping import __all__ as _params_mapping_all
from tsx.tree_utils.random_trees import *  # noqa: F403
from tsx.tree_utils.random_trees import __all__ as _random_trees_all
from tsx.tree_utils.state_search import *  # noqa: F403
from tsx.tree_utils.state_search import __all__ as _state_search_all

__all__ = [
    *_arithmetic_all,
    *_casting_all,
    *_moments_all,
    *_params_mapping_all,
    *_random_trees_all,
    *_state_search_all,
]
