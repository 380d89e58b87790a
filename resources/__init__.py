"""Plain resource files: icons, the desktop entry, AppStream metainfo."""
