from oob.cli import main

main()
