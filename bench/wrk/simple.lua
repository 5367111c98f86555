-- GET requests with the headers given on wrk's command line; only adds the result line.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
