/* stand-in: the library's umbrella header; the TFLM headers come from the real tree (see README.md) */
#pragma once
