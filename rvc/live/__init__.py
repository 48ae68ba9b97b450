"""Live conversion: a stream converted block by block (:mod:`rvc.live.engine`), on local audio devices
(:mod:`rvc.live.devices`)."""
