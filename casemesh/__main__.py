from casemesh.cli import main

main()
