"""Datasets: manifests, protocol label maps, audio preparation, the tf.data pipeline and the demo corpus."""
