"""An album in one command (`python -m app batch`): the album file's songs, made through the Studio into a folder.

lines.py reads and checks the album file; runner.py makes its songs (manifest.py remembers the kept ones,
folders.py writes each into the album folder); board.py shows the progress.
"""
