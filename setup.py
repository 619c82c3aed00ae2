"""parass2s_hf: ParaS2S (arXiv 2511.08723) in the Hugging Face ecosystem.

torch and torchcodec are stated as ranges so that GPU users keep their CUDA builds; the CPU pins
(torch==2.13.0, torchcodec==0.13.0) live in scripts/install.sh and .ci/run.
"""

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()

install_requires = [
    "torch>=2.6",
    "torchcodec>=0.12",  # datasets' Audio feature needs it even to build a column
    "transformers>=5.2,<6",
    "datasets>=5.2,<6",  # the load_dataset("parass2sbench") hook wraps a private function; tests guard it
    "evaluate>=0.4.6,<0.5",
    "huggingface-hub>=1.0",
    "accelerate>=1.10",
    "numpy>=1.26",
    "soundfile>=0.12",
    "librosa>=0.10",
    "scipy>=1.13",  # pearsonr/kendalltau with axis= (judge validation)
    "krippendorff>=0.8",  # inter-rater agreement (judge validation)
    "choix>=0.3.1",  # Bradley-Terry fit (ilsr_pairwise_dense, since 0.3.1) for parass2s compare --pairwise
    "espeakng-loader>=0.2.4",  # ships libespeak-ng and its data: the offline renderer needs no system package
    "tqdm>=4.66",
    "jiwer>=3",  # word error rate (the build pipeline's verify stage)
    "matplotlib>=3.7",  # evaluation report figures
    "pyyaml>=6",
]

extras = {
    "train": ["trl>=1.16,<1.17", "peft>=0.17", "bitsandbytes>=0.45"],
    "api": ["openai>=1.40"],
    "listen": ["gradio>=5"],  # the listening page (parass2s listen)
    "dev": ["pytest>=8", "selenium>=4.20"],  # selenium drives the page in headless Chromium (tests)
}
extras["all"] = sorted({dep for deps in extras.values() for dep in deps})

setup(
    name="parass2s_hf",
    version="0.1.0.dev0",
    description="ParaS2S: paralinguistic-aware speech-to-speech benchmark, judge and GRPO alignment on Hugging Face",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"": "src"},
    packages=find_packages("src"),
    package_data={"parass2s_hf": ["bench/data/*.jsonl", "bench/data/*.json", "bench/data/sample/*.jsonl",
                                  "bench/data/sample/audio/*.flac", "judge/evaluate_module/*.py"]},
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["parass2s=parass2s_hf.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
    ],
)
