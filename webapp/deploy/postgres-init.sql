-- Run once by the postgres container on an empty volume: Label Studio keeps its own
-- database beside inkloop's, on the same server.
CREATE DATABASE labelstudio OWNER inkloop;
