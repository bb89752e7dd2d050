from idflow.cli import main

main()
