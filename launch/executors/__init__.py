"""Where a stage's commands run (``launch.stage.Executor``): a subprocess of this machine (``local``, with
``make_executor``, which picks one from the cluster profile) or a Ray job
(``ray``, ``ray_auth`` for clusters with token authentication, ``multinode`` for one command over several
nodes); ``processes`` holds how a child process is started, stopped and read, for all of them."""
