"""Active learning: choose the lines a person should transcribe next.

`strategies` holds the choosers (plain functions), `scoring` and `embeddings` turn a
checkpoint into what they need, `simulation` replays labelling on already transcribed
pages to measure how many labels each strategy saves, and `report` draws the result.
"""
