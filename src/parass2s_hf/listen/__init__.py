"""People in the loop: a local listening page to rate responses (for `validate-judge`) and verify a build's items.

```
parass2s listen rate   --run runs/omni --run runs/cascade --rater alice --output ratings/
parass2s listen verify --in work/emo --rater bob
parass2s validate-judge --ratings ratings/ --run runs/omni --run runs/cascade --output validation/
```
"""

from .rating import RatingLog, check_rater, run_items, select_items

__all__ = ["RatingLog", "check_rater", "run_items", "select_items"]
