"""The HIL-SERL agent: image encoder, SAC with a critic ensemble, grasp critic, augmentation."""
