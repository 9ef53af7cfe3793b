from codanna_desktop.launch import main

if __name__ == "__main__":  # not when a worker process (file_reader.py) imports it
    raise SystemExit(main())
