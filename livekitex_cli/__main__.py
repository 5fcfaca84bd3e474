from livekitex_cli.cli import main

main()
