"""Files on disk: walking an added folder, its ignore rules, which folder owns a path, and
the path filters a search takes."""
