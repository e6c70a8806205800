"""Everything that edits a user's file: the fixes (``--fix``, ``--unsafe-fixes``, ``--diff``) and
``--add-noqa``.

The analysis reads ``ast``; edits go through LibCST, whose lossless tree keeps comments and formatting. LibCST is
imported only by ``apply``/``edits`` and the per-rule fixers, which the engine imports only when something is to be
edited; ``noqa`` needs the tokenizer only. One module per rule's fix (``pklNNN.py``; ``ignore_index`` serves PKL001
and PKL002, ``rnn_state`` finds ``h_n`` for PKL003 and PKL009); ``documents`` reads and writes files and
notebooks; ``splice`` applies text edits.
"""
