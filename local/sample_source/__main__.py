from local.sample_source.server import main

main()
