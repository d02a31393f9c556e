
;
xPlaceholder*
shape:ÿÿÿÿÿÿÿÿÿ*
dtype0

aRelux*
T0

bSigmoidx*
T0"ª