"""A Hugging Face Space that rates an evaluation run with the listening page, saving ratings to a Hub dataset repo.

Not part of the tested package (it needs the Hub); documented here as the way to collect ratings from raters who do
not run Python. Set the Space's variables:

- `PARASS2S_RUN_REPO`: a Hub dataset repo holding a whole run folder, responses included (`parass2s evaluate
  --push_to_hub` uploads the report, results and manifest only; upload the folder with
  `huggingface-cli upload user/my-run runs/omni --repo-type dataset`);
- `PARASS2S_RATINGS_REPO`: a Hub dataset repo the ratings are appended to (the Space's token must be able to write);
- `PARASS2S_RATER`: the rater of this Space (duplicate the Space once per rater);
- optionally `PARASS2S_PER_GROUP`: at most this many responses per (system, dimension).

The ratings folder is the one `parass2s validate-judge --ratings FOLDER` reads: download the ratings repo and pass it.
`CommitScheduler` pushes the folder every few minutes, so a restart of the Space loses at most the last minutes.
"""

import os

from huggingface_hub import CommitScheduler, snapshot_download

from parass2s_hf.listen.app import rate_page
from parass2s_hf.listen.rating import RatingLog, select_items

RATER = os.environ["PARASS2S_RATER"]
RUN = snapshot_download(os.environ["PARASS2S_RUN_REPO"], repo_type="dataset")
RATINGS = os.path.abspath("ratings")
os.makedirs(RATINGS, exist_ok=True)
scheduler = CommitScheduler(repo_id=os.environ["PARASS2S_RATINGS_REPO"], repo_type="dataset", folder_path=RATINGS,
                            every=5, allow_patterns=["*.jsonl"])
per_group = int(os.environ["PARASS2S_PER_GROUP"]) if os.environ.get("PARASS2S_PER_GROUP") else None
log = RatingLog(RATINGS, RATER)
page = rate_page(select_items([RUN], RATER, per_group=per_group), log)

if __name__ == "__main__":
    page.queue().launch()
