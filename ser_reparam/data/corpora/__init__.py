"""One module per corpus; each has LAYOUT (what the data root must hold) and build(collector, **options)."""
from . import crema_d, daic_woz, emodb, folder, iemocap, m3ed, ravdess, user_csv

CORPORA = {"iemocap": iemocap, "m3ed": m3ed, "daic_woz": daic_woz, "ravdess": ravdess,
           "crema_d": crema_d, "emodb": emodb, "folder": folder, "csv": user_csv}
