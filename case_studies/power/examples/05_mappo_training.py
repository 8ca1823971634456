"""Train the networked microgrids with RLlib PPO (MAPPO, IPPO or MAPPO with a
centralised critic).

    python examples/05_mappo_training.py --test
    python examples/05_mappo_training.py --iterations 100 --num-workers 1 --share-reward
    python examples/05_mappo_training.py --algo mappo-cc --iterations 100
    python examples/05_mappo_training.py --independent-policies --iterations 100
    python examples/05_mappo_training.py --trainer torchrl --algo mappo-cc   # TorchRL, vectorized env
    python examples/05_mappo_training.py --help     # every flag

All logic is in powergrid.training (power glue) and heron.training (RLlib, or
heron.training.torchrl with --trainer torchrl).
"""

from powergrid.training import main

if __name__ == "__main__":
    main()
