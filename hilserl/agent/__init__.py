"""The HIL-SERL agent, task-agnostic: image encoder, SAC with a critic ensemble, grasp critic, augmentation."""
